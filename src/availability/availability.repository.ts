import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { Batcher } from '../common/batcher.js';
import { hydrate } from '../database/hydrate.js';
import { DriverEntity } from '../fleet/driver.entity.js';

export interface LocationWrite {
  driverId: string;
  lat: number;
  lon: number;
  recordedAt: Date;
  seenAt: Date;
  /** False for a point that is only a heartbeat (too inaccurate, or a jump): the location stays. */
  moves: boolean;
  /** As the phone reported them; null when it did not. */
  accuracy: number | null;
  heading: number | null;
  speed: number | null;
}

/** Where a choosable driver is: all a search needs to rank it, and a claim to take it. */
export interface DriverPosition {
  id: string;
  lastLat: number | null;
  lastLon: number | null;
}

/**
 * What a search reads of each driver it finds: `columns` of `drivers d`,
 * and how a row becomes the result. A dispatch needs positions only; the
 * admin's nearby list shows whole drivers. Fewer columns are fewer bytes
 * to send and fewer values (four timestamps a driver) to parse, for every
 * candidate of every order.
 */
export class DriverShape<T extends DriverPosition> {
  /** Searches confirming their candidates at the same time, with this shape, share one query. */
  readonly confirmations: Batcher<{ ids: string[]; cutoff: Date }, T[]>;

  constructor(
    readonly columns: string,
    readonly read: (row: Record<string, unknown>) => T,
    confirm: (queries: { ids: string[]; cutoff: Date }[], shape: DriverShape<T>) => Promise<T[][]>,
  ) {
    this.confirmations = new Batcher((queries) => confirm(queries, this));
  }
}

/** The point moves the driver: not filtered, and at least as new as the stored one (an older one is only a heartbeat). */
const NEWEST = 'v.moves AND (d.last_location_at IS NULL OR v.recorded_at >= d.last_location_at)';

/** PostgreSQL side of location pings (the write-behind's batches) and of the nearest search. */
@Injectable()
export class AvailabilityRepository {
  /** Positions only. */
  readonly positions = this.shape<DriverPosition>('d.id, d.last_lat, d.last_lon', (row) => ({
    id: row.id as string,
    lastLat: row.last_lat as number | null,
    lastLon: row.last_lon as number | null,
  }));
  /** Whole drivers, as TypeORM reads them. */
  readonly wholeDrivers = this.shape<DriverEntity>('d.*', (row) => hydrate(this.drivers.manager, DriverEntity, row));

  constructor(
    @InjectRepository(DriverEntity) private readonly drivers: Repository<DriverEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /**
   * Writes a batch of points. A point older than the stored one leaves the
   * location alone (out-of-order delivery) but still counts as a heartbeat.
   * The rows are locked in id order first, whatever plan the UPDATE gets, so
   * batches from several processes cannot deadlock.
   */
  async writeLocations(points: LocationWrite[]): Promise<void> {
    if (points.length === 0) return;
    const rows = points.map((p) => ({
      id: p.driverId,
      lat: p.lat,
      lon: p.lon,
      recorded_at: p.recordedAt.toISOString(),
      seen_at: p.seenAt.toISOString(),
      moves: p.moves,
      accuracy: p.accuracy,
      heading: p.heading,
      speed: p.speed,
    }));
    await this.dataSource.transaction(async (manager) => {
      await manager.query(`SELECT id FROM drivers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [rows.map((r) => r.id)]);
      await manager.query(
        `UPDATE drivers AS d SET
           last_lat = CASE WHEN ${NEWEST} THEN v.lat ELSE d.last_lat END,
           last_lon = CASE WHEN ${NEWEST} THEN v.lon ELSE d.last_lon END,
           last_accuracy = CASE WHEN ${NEWEST} THEN v.accuracy ELSE d.last_accuracy END,
           last_heading = CASE WHEN ${NEWEST} THEN v.heading ELSE d.last_heading END,
           last_speed = CASE WHEN ${NEWEST} THEN v.speed ELSE d.last_speed END,
           last_location_at = CASE WHEN v.moves THEN GREATEST(d.last_location_at, v.recorded_at) ELSE d.last_location_at END,
           last_seen_at = GREATEST(d.last_seen_at, v.seen_at)
         FROM jsonb_to_recordset($1::jsonb) AS v(id uuid, lat double precision, lon double precision,
                                                 recorded_at timestamptz, seen_at timestamptz, moves boolean,
                                                 accuracy double precision, heading double precision, speed double precision)
         WHERE d.id = v.id`,
        [JSON.stringify(rows)],
      );
    });
  }

  /**
   * A window of the `window` choosable drivers (`driver_is_choosable`,
   * fleet.sql) whose indexed positions are nearest the point: the query walks
   * the partial GiST index on ll_to_earth(indexed_lat, indexed_lon) in
   * distance order and stops there, so the cost follows the window, whatever
   * the fleet's size. Of the window, the `limit` nearest by location come
   * back, nearest first, with the window's size and how far its farthest
   * indexed position is (metres): an indexed position is within
   * INDEXED_POSITION_LAG_METERS of the location, which the caller allows
   * for. The radius is the caller's to apply.
   */
  async findNearestChoosable<T extends DriverPosition>(
    query: {
      lat: number;
      lon: number;
      cutoff: Date;
      window: number;
      limit: number;
    },
    shape: DriverShape<T>,
  ): Promise<{ drivers: T[]; windowSize: number; windowMeters: number }> {
    const rows: Array<Record<string, unknown>> = await this.drivers.query(
      `SELECT w.*, count(*) OVER () AS window_size, max(w.indexed_meters) OVER () AS window_meters
       FROM (
         SELECT ${shape.columns}, great_circle_meters($1, $2, d.indexed_lat, d.indexed_lon) AS indexed_meters,
                great_circle_meters($1, $2, d.last_lat, d.last_lon) AS meters
         FROM drivers d
         WHERE driver_is_choosable(d, $3) AND d.indexed_lat IS NOT NULL
         ORDER BY ll_to_earth(d.indexed_lat, d.indexed_lon) <-> ll_to_earth($1, $2)
         LIMIT $4) w
       ORDER BY w.meters, w.id
       LIMIT $5`,
      [query.lat, query.lon, query.cutoff, query.window, query.limit],
    );
    return {
      drivers: rows.map((row) => shape.read(row)),
      windowSize: rows.length === 0 ? 0 : Number(rows[0].window_size),
      windowMeters: rows.length === 0 ? 0 : Number(rows[0].window_meters),
    };
  }

  /**
   * The `limit` choosable drivers nearest the point by location, nearest
   * first, of those whose indexed position lies within `indexedWithinMeters`
   * of it: a bounding-box scan of the same partial GiST index, whose cost
   * follows the drivers in the circle. (The box also holds some indexed
   * positions beyond the circle; their drivers are farther than any answer
   * the caller can know, and rank after it.) A caller that knows the answer lies
   * within d of the point asks for d + INDEXED_POSITION_LAG_METERS and gets
   * it exactly, however many drivers' indexed positions crowd nearer.
   * (earthdistance measures on a sphere of earth() = 6,378,168 m, ours is
   * 6,371,008.8 m: the box's radius is scaled to hold every driver ours
   * accepts, and 1 m more for rounding.)
   */
  async findChoosableIndexedWithin<T extends DriverPosition>(
    query: {
      lat: number;
      lon: number;
      cutoff: Date;
      indexedWithinMeters: number;
      limit: number;
    },
    shape: DriverShape<T>,
  ): Promise<T[]> {
    const rows: Array<Record<string, unknown>> = await this.drivers.query(
      `SELECT ${shape.columns}, great_circle_meters($1, $2, d.last_lat, d.last_lon) AS meters
       FROM drivers d
       WHERE driver_is_choosable(d, $3) AND d.indexed_lat IS NOT NULL
         AND earth_box(ll_to_earth($1, $2), ($4::double precision + 1) * earth() / 6371008.8) @> ll_to_earth(d.indexed_lat, d.indexed_lon)
       ORDER BY meters, d.id
       LIMIT $5::int`,
      [query.lat, query.lon, query.cutoff, query.indexedWithinMeters, query.limit],
    );
    return rows.map((row) => shape.read(row));
  }

  /**
   * Of the given drivers, those PostgreSQL says can be chosen now, read as
   * `shape`. Searches confirming their candidates at the same time with the
   * same shape share one query.
   */
  findChoosable<T extends DriverPosition>(ids: string[], cutoff: Date, shape: DriverShape<T>): Promise<T[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return shape.confirmations.add({ ids, cutoff });
  }

  /** A shape whose confirmations run through findChoosableMany. */
  private shape<T extends DriverPosition>(columns: string, read: (row: Record<string, unknown>) => T): DriverShape<T> {
    return new DriverShape(columns, read, (queries, shape) => this.findChoosableMany(queries, shape));
  }

  private async findChoosableMany<T extends DriverPosition>(
    queries: { ids: string[]; cutoff: Date }[],
    shape: DriverShape<T>,
  ): Promise<T[][]> {
    const ids: string[] = [];
    const cutoffs: Date[] = [];
    const owners: number[] = [];
    queries.forEach((query, i) => {
      for (const id of query.ids) {
        ids.push(id);
        cutoffs.push(query.cutoff);
        owners.push(i);
      }
    });
    const rows: Array<Record<string, unknown>> = await this.drivers.query(
      `SELECT c.query, ${shape.columns} FROM unnest($1::uuid[], $2::timestamptz[], $3::int[]) AS c (id, cutoff, query)
       JOIN drivers d ON d.id = c.id
       WHERE driver_is_choosable(d, c.cutoff)`,
      [ids, cutoffs, owners],
    );
    const found: T[][] = queries.map(() => []);
    for (const row of rows) found[row.query as number].push(shape.read(row));
    return found;
  }
}
