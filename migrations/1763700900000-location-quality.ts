import { MigrationInterface, QueryRunner } from 'typeorm';

/** The quality of a driver's last point, as its phone reported it (contract "Location, v2"). */
export class LocationQuality1763700900000 implements MigrationInterface {
  name = 'LocationQuality1763700900000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE drivers
        ADD COLUMN last_accuracy double precision,
        ADD COLUMN last_heading double precision,
        ADD COLUMN last_speed double precision`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE drivers DROP COLUMN last_accuracy, DROP COLUMN last_heading, DROP COLUMN last_speed`);
  }
}
