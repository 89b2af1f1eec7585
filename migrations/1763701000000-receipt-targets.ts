import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A signed request's receipt names the route it was first seen on ("PATCH /drivers/{id}/location"),
 * so the same signed message sent to another route is refused; and a receipt released after a 429 or a
 * 5xx is kept, marked released, so its retry may run again on that route but on no other.
 * Receipts written before this have no target and match any route until they expire (11 minutes).
 */
export class ReceiptTargets1763701000000 implements MigrationInterface {
  name = 'ReceiptTargets1763701000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      ALTER TABLE webhook_receipts
        ADD COLUMN target varchar(300),
        ADD COLUMN released boolean NOT NULL DEFAULT false`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE webhook_receipts DROP COLUMN target, DROP COLUMN released`);
  }
}
