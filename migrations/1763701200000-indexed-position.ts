import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The nearest search's GiST index moves to the driver's indexed position
 * (`indexed_lat`, `indexed_lon`): the last location, except that it follows
 * only once the driver is more than 200 m from it (the trigger
 * drivers_keep_indexed_position in src/fleet/fleet.sql keeps it so, for
 * every writer). Neither last_lat nor last_lon is then in any index, so a
 * location write that leaves the indexed position alone is a HOT update: no
 * index entry, a fraction of the WAL. The search allows for the 200 m
 * (AvailabilityService.findNearest). fillfactor 80 leaves room on each page
 * for those updates.
 *
 * The migration commits before fleet.sql is applied, and an instance of the
 * previous release may write a location in between (it knows nothing of the
 * indexed position). So the trigger is created here already, in its simplest
 * form: the indexed position is the location, within any bound. fleet.sql
 * then replaces the function with the one that lags.
 */
export class IndexedPosition1763701200000 implements MigrationInterface {
  name = 'IndexedPosition1763701200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE drivers ADD COLUMN indexed_lat double precision, ADD COLUMN indexed_lon double precision`);
    await queryRunner.query(`
      CREATE OR REPLACE FUNCTION drivers_keep_indexed_position() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        NEW.indexed_lat := NEW.last_lat;
        NEW.indexed_lon := NEW.last_lon;
        RETURN NEW;
      END $$`);
    await queryRunner.query(`DROP TRIGGER IF EXISTS drivers_keep_indexed_position ON drivers`);
    await queryRunner.query(`
      CREATE TRIGGER drivers_keep_indexed_position
        BEFORE INSERT OR UPDATE OF last_lat, last_lon, indexed_lat, indexed_lon ON drivers
        FOR EACH ROW EXECUTE FUNCTION drivers_keep_indexed_position()`);
    await queryRunner.query(`UPDATE drivers SET indexed_lat = last_lat, indexed_lon = last_lon WHERE last_lat IS NOT NULL`);
    await queryRunner.query(`
      ALTER TABLE drivers ADD CONSTRAINT drivers_indexed_position_check
        CHECK ((indexed_lat IS NULL) = (last_lat IS NULL) AND (indexed_lon IS NULL) = (last_lat IS NULL))`);
    await queryRunner.query(`DROP INDEX drivers_available_location_idx`);
    await queryRunner.query(`
      CREATE INDEX drivers_available_location_idx ON drivers
      USING gist (ll_to_earth(indexed_lat, indexed_lon))
      WHERE is_active AND status = 'AVAILABLE' AND indexed_lat IS NOT NULL`);
    await queryRunner.query(`ALTER TABLE drivers SET (fillfactor = 80)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE drivers RESET (fillfactor)`);
    // fleet.sql, which replaced the trigger's function, is applied again once the migration is back.
    // great_circle_meters stays: deliveries.sql calls it.
    await queryRunner.query(`DROP TRIGGER IF EXISTS drivers_keep_indexed_position ON drivers`);
    await queryRunner.query(`DROP FUNCTION IF EXISTS drivers_keep_indexed_position()`);
    await queryRunner.query(`DELETE FROM sql_routines WHERE name = 'fleet/fleet.sql'`);
    await queryRunner.query(`DROP INDEX drivers_available_location_idx`);
    await queryRunner.query(`
      CREATE INDEX drivers_available_location_idx ON drivers
      USING gist (ll_to_earth(last_lat, last_lon))
      WHERE is_active AND status = 'AVAILABLE' AND last_lat IS NOT NULL`);
    await queryRunner.query(
      `ALTER TABLE drivers DROP CONSTRAINT drivers_indexed_position_check, DROP COLUMN indexed_lat, DROP COLUMN indexed_lon`,
    );
  }
}
