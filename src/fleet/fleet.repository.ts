import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { hydrate } from '../database/hydrate.js';
import type { ChangedRows, RawRow } from '../database/query-results.js';
import { DriverEntity } from './driver.entity.js';
import { DRIVER_PROFILE_COLUMNS, DRIVER_STATE_COLUMNS, DriverProfile, DriverState } from './driver-state.js';

/**
 * The statements that write a driver's state (`status`, `is_active`,
 * `state_version`), and the reads of it that Redis is kept in line with.
 * Nothing outside this folder writes those columns: every change bumps
 * `state_version`, so Redis can refuse an older state that arrives late.
 * (The claim of a driver for a delivery is `claim_driver` in fleet.sql, and
 * the release of one is `release_driver` there, which dispatch also calls.)
 */
@Injectable()
export class FleetRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async findState(id: string): Promise<DriverState | null> {
    const rows: DriverState[] = await this.dataSource.query(`SELECT ${DRIVER_STATE_COLUMNS} FROM drivers WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  findStates(ids: string[]): Promise<DriverState[]> {
    return this.dataSource.query(`SELECT ${DRIVER_STATE_COLUMNS} FROM drivers WHERE id = ANY($1::uuid[])`, [ids]);
  }

  /** States (with profiles) in id order after `afterId`, for reconciliation in bounded batches. */
  listStates(afterId: string | null, limit: number): Promise<Array<DriverState & DriverProfile>> {
    const columns = `${DRIVER_STATE_COLUMNS}, ${DRIVER_PROFILE_COLUMNS}`;
    return afterId === null
      ? this.dataSource.query(`SELECT ${columns} FROM drivers ORDER BY id LIMIT $1`, [limit])
      : this.dataSource.query(`SELECT ${columns} FROM drivers WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, limit]);
  }

  /**
   * Sets AVAILABLE or OFFLINE unless the driver is BUSY (on a delivery or an offer).
   * Returns the updated driver, or null when the driver is BUSY or unknown.
   */
  setStatusUnlessBusy(id: string, status: 'AVAILABLE' | 'OFFLINE'): Promise<DriverEntity | null> {
    return this.updateOne(
      this.dataSource.manager,
      // Going AVAILABLE again starts the run of timed-out offers (OFFER_TIMEOUTS_BEFORE_OFFLINE) from 0.
      `UPDATE drivers SET status = $2::varchar, state_version = state_version + 1, updated_at = now(),
              offer_timeouts_in_a_row = CASE WHEN $2::varchar = 'AVAILABLE' THEN 0 ELSE offer_timeouts_in_a_row END
       WHERE id = $1 AND status <> 'BUSY' RETURNING *`,
      [id, status],
    );
  }

  /** Activates or deactivates a driver, in the caller's transaction; null when there is no such driver. */
  setActive(manager: EntityManager, id: string, isActive: boolean): Promise<DriverEntity | null> {
    return this.updateOne(
      manager,
      `UPDATE drivers SET is_active = $2, state_version = state_version + 1, updated_at = now() WHERE id = $1 RETURNING *`,
      [id, isActive],
    );
  }

  /**
   * A driver whose delivery ended is AVAILABLE again, in the caller's
   * transaction. Returns the driver as it now is (unchanged if it was not
   * BUSY), or null when there is no such driver.
   */
  async release(manager: EntityManager, id: string): Promise<DriverEntity | null> {
    const rows: RawRow[] = await manager.query(`SELECT * FROM release_driver($1)`, [id]);
    return rows[0] ? hydrate(manager, DriverEntity, rows[0]) : null;
  }

  private async updateOne(manager: EntityManager, sql: string, params: unknown[]): Promise<DriverEntity | null> {
    const [rows]: ChangedRows = await manager.query(sql, params);
    return rows.length === 1 ? hydrate(manager, DriverEntity, rows[0]) : null;
  }
}
