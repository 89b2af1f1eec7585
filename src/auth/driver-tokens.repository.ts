import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export interface TokenOwner {
  id: string;
  isActive: boolean;
}

/** Who holds a driver token: read from `drivers.token_hash` (the drivers module writes it). */
@Injectable()
export class DriverTokensRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The owner of each token hash, in the order given (null where no driver holds it), in one query. */
  async findOwners(tokenHashes: string[]): Promise<(TokenOwner | null)[]> {
    const rows: Array<TokenOwner & { tokenHash: string }> = await this.dataSource.query(
      `SELECT id, is_active AS "isActive", token_hash AS "tokenHash" FROM drivers WHERE token_hash = ANY($1::char(64)[])`,
      [tokenHashes],
    );
    const owners = new Map(rows.map((row) => [row.tokenHash, { id: row.id, isActive: row.isActive }]));
    return tokenHashes.map((hash) => owners.get(hash) ?? null);
  }
}
