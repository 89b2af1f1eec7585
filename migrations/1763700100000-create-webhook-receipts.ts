import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateWebhookReceipts1763700100000 implements MigrationInterface {
  name = 'CreateWebhookReceipts1763700100000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // Signed requests seen in the last minutes, with the answer they got, so a replay gets the same answer.
    await queryRunner.query(`
      CREATE TABLE webhook_receipts (
        source varchar(16) NOT NULL,
        webhook_id varchar(256) NOT NULL,
        body_sha256 char(64) NOT NULL,
        status_code integer,
        response jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (source, webhook_id)
      )`);
    await queryRunner.query(`CREATE INDEX webhook_receipts_created_at_idx ON webhook_receipts (created_at)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE webhook_receipts`);
  }
}
