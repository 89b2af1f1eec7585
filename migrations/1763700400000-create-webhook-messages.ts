import { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateWebhookMessages1763700400000 implements MigrationInterface {
  name = 'CreateWebhookMessages1763700400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The outbox: one row per message to Vendure, written in the transaction of the change it reports.
    await queryRunner.query(`
      CREATE TABLE webhook_messages (
        id varchar(64) PRIMARY KEY,
        delivery_id uuid NOT NULL REFERENCES deliveries (id),
        delivery_seq integer NOT NULL,
        type varchar(40) NOT NULL,
        payload jsonb NOT NULL,
        request_id varchar(128),
        status varchar(16) NOT NULL DEFAULT 'pending'
          CONSTRAINT webhook_messages_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz,
        last_status_code integer,
        last_error varchar(500),
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        failed_at timestamptz
      )`);
    await queryRunner.query(`CREATE INDEX webhook_messages_due_idx ON webhook_messages (next_attempt_at) WHERE status = 'pending'`);
    await queryRunner.query(`CREATE INDEX webhook_messages_delivery_seq_idx ON webhook_messages (delivery_id, delivery_seq)`);
    await queryRunner.query(`CREATE INDEX webhook_messages_status_created_idx ON webhook_messages (status, created_at, id)`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE webhook_messages`);
  }
}
