import { PGlite } from '@electric-sql/pglite';
import { cube } from '@electric-sql/pglite/contrib/cube';
import { earthdistance } from '@electric-sql/pglite/contrib/earthdistance';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { lockDataDirectory } from './embedded-lock.js';

type Callback = (error: Error | null, result?: unknown) => void;

/**
 * A `pg`-compatible driver over an embedded PGlite database, for TypeORM's
 * `driver` option.
 *
 * PGlite is one connection. A pool that hands that one connection to every
 * caller at once (as `typeorm-pglite` does) lets two transactions interleave
 * their statements, so one transaction's ROLLBACK undoes the other's work.
 * This pool lends the connection to one query runner at a time, which gives
 * the same isolation a real PostgreSQL pool gives, at the cost of running
 * transactions one after another — the right trade for an embedded default.
 */
export function createEmbeddedDriver(dataDir: string): { Pool: new () => EventEmitter } {
  const directory = resolve(dataDir);
  mkdirSync(directory, { recursive: true });
  lockDataDirectory(directory);
  let database: Promise<PGlite> | undefined;
  const open = () => (database ??= PGlite.create(directory, { extensions: { cube, earthdistance } }));

  let busy = false;
  const waiting: Array<() => void> = [];
  const acquire = (): Promise<void> =>
    busy ? new Promise((resolveTurn) => waiting.push(resolveTurn)) : ((busy = true), Promise.resolve());
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else busy = false;
  };

  class EmbeddedClient extends EventEmitter {
    query(sql: string, params?: unknown[] | Callback, callback?: Callback): Promise<unknown> {
      const cb = typeof params === 'function' ? params : callback;
      const values = Array.isArray(params) ? params : undefined;
      const result = open().then(async (db) => {
        if (values && values.length > 0) return db.query(sql, values);
        // The simple protocol allows several statements (migrations); answer with the last one.
        const results = await db.exec(sql);
        return results[results.length - 1] ?? { rows: [], fields: [], rowCount: 0 };
      });
      if (cb)
        result.then(
          (r) => cb(null, r),
          (e: Error) => cb(e),
        );
      return result;
    }
  }

  class EmbeddedPool extends EventEmitter {
    connect(callback?: (error: Error | null, client?: EmbeddedClient, done?: () => void) => void): Promise<unknown> {
      const lent = acquire().then(async () => {
        try {
          await open();
        } catch (error) {
          release();
          throw error;
        }
        let returned = false;
        const done = () => {
          if (!returned) {
            returned = true;
            release();
          }
        };
        return { client: new EmbeddedClient(), done };
      });
      if (!callback) return lent.then(({ client }) => client);
      lent.then(
        ({ client, done }) => callback(null, client, done),
        (error: Error) => callback(error),
      );
      return lent;
    }

    query(sql: string, params?: unknown[] | Callback, callback?: Callback): Promise<unknown> {
      return acquire().then(() => new EmbeddedClient().query(sql, params, callback).finally(release));
    }

    end(callback?: (error?: Error | null) => void): Promise<void> {
      const closing = database ? database.then((db) => db.close()).finally(() => (database = undefined)) : Promise.resolve();
      if (callback)
        closing.then(
          () => callback(null),
          (error: Error) => callback(error),
        );
      return closing;
    }
  }

  return { Pool: EmbeddedPool };
}
