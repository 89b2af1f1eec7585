import { MigrationInterface } from 'typeorm';

/**
 * Created the batched claims. Like the delivery functions before them, they
 * are SQL routines now (src/deliveries/deliveries.sql), applied after the
 * migrations whenever their text changes; this migration is left empty so
 * that a new database and one that ran it end with the same functions.
 */
export class BatchedClaims1763700600000 implements MigrationInterface {
  name = 'BatchedClaims1763700600000';

  async up(): Promise<void> {}

  async down(): Promise<void> {}
}
