import { MigrationInterface, QueryRunner } from 'typeorm';

export class DriverAvailability1763700200000 implements MigrationInterface {
  name = 'DriverAvailability1763700200000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS cube`);
    await queryRunner.query(`CREATE EXTENSION IF NOT EXISTS earthdistance`);
    // Bumped on every change of status or isActive, so the Redis copy can refuse an older state.
    await queryRunner.query(`ALTER TABLE drivers ADD COLUMN state_version integer NOT NULL DEFAULT 0`);
    // The nearest-driver search on PostgreSQL: only choosable drivers are indexed; KNN (<->) and earth_box use it.
    await queryRunner.query(`
      CREATE INDEX drivers_available_location_idx ON drivers
      USING gist (ll_to_earth(last_lat, last_lon))
      WHERE is_active AND status = 'AVAILABLE' AND last_lat IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX drivers_available_location_idx`);
    await queryRunner.query(`ALTER TABLE drivers DROP COLUMN state_version`);
  }
}
