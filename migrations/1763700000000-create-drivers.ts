import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateDrivers1763700000000 implements MigrationInterface {
  name = 'CreateDrivers1763700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE drivers (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name varchar(200) NOT NULL,
        phone varchar(32) NOT NULL,
        vehicle_type varchar(50),
        status varchar(16) NOT NULL DEFAULT 'OFFLINE'
          CONSTRAINT drivers_status_check CHECK (status IN ('AVAILABLE', 'BUSY', 'OFFLINE')),
        is_active boolean NOT NULL DEFAULT true,
        token_hash char(64) NOT NULL,
        last_lat double precision CONSTRAINT drivers_last_lat_check CHECK (last_lat BETWEEN -90 AND 90),
        last_lon double precision CONSTRAINT drivers_last_lon_check CHECK (last_lon BETWEEN -180 AND 180),
        last_location_at timestamptz,
        last_seen_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT drivers_location_pair_check CHECK ((last_lat IS NULL) = (last_lon IS NULL))
      )`);
    await queryRunner.query(`CREATE UNIQUE INDEX drivers_phone_key ON drivers (phone)`);
    await queryRunner.query(`CREATE UNIQUE INDEX drivers_token_hash_key ON drivers (token_hash)`);
    // Keyset pagination of the admin listing, optionally filtered by status.
    await queryRunner.query(`CREATE INDEX drivers_created_at_id_idx ON drivers (created_at, id)`);
    await queryRunner.query(`CREATE INDEX drivers_status_created_at_id_idx ON drivers (status, created_at, id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE drivers`);
  }
}
