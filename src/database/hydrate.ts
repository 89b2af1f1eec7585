import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * An entity from a raw row (`RETURNING *`, or a row as JSON), converted
 * column by column as TypeORM converts the rows it reads itself: the row a
 * statement changed, without a second round trip to read it back. Columns
 * TypeORM never selects (`select: false`, the token hash) are left out here
 * too, whatever the row holds.
 */
export function hydrate<T extends ObjectLiteral>(manager: EntityManager, target: EntityTarget<T>, row: Record<string, unknown>): T {
  const metadata = manager.connection.getMetadata(target);
  const entity = metadata.create() as T;
  for (const column of metadata.columns) {
    if (column.isSelect && column.databaseName in row) {
      column.setEntityValue(entity, manager.connection.driver.prepareHydratedValue(row[column.databaseName], column));
    }
  }
  return entity;
}
