import { MigrationInterface } from 'typeorm';

/**
 * Created the first delivery functions. They are SQL routines now, kept in
 * `src/**\/*.sql` and applied after the migrations whenever their text
 * changes (src/database/sql-routines.ts), on a new database and on one that
 * ran this migration alike; this migration is left empty so that both end
 * with the same functions.
 */
export class DeliveryFunctions1763700500000 implements MigrationInterface {
  name = 'DeliveryFunctions1763700500000';

  async up(): Promise<void> {}

  async down(): Promise<void> {}
}
