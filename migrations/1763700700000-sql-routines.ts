import { MigrationInterface, QueryRunner } from 'typeorm';

export class SqlRoutines1763700700000 implements MigrationInterface {
  name = 'SqlRoutines1763700700000';

  async up(queryRunner: QueryRunner): Promise<void> {
    // The SQL routine files applied to this database, by the hash of the text applied (src/database/sql-routines.ts).
    await queryRunner.query(`
      CREATE TABLE sql_routines (
        name varchar(200) PRIMARY KEY,
        sha256 char(64) NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE sql_routines`);
  }
}
