import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Customers' tracking links: only the SHA-256 of each token is kept, with the
 * delivery it reads. A link works until TRACKING_LINK_TTL_SECONDS after its
 * delivery ends (read from the delivery, so no timer writes to this table);
 * an expired link's row stays, inert, beside its delivery (deliveries are kept too).
 */
export class TrackingLinks1763701100000 implements MigrationInterface {
  name = 'TrackingLinks1763701100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE tracking_links (
        token_hash char(64) PRIMARY KEY,
        delivery_id uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
        created_by varchar(80) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await queryRunner.query(`CREATE INDEX tracking_links_delivery_idx ON tracking_links (delivery_id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE tracking_links`);
  }
}
