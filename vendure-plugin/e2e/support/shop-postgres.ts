import type { TestDbInitializer } from '@vendure/testing';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';

import { adminSql } from './driver-service';

/**
 * The Vendure server's own database on the local PostgreSQL: one per run, so
 * that runs side by side do not share it, dropped by `drop()` afterwards.
 */
export class ShopPostgres implements TestDbInitializer<PostgresConnectionOptions> {
    readonly database = `vendure_plugin_e2e_shop_${process.pid}`;

    async init(testFileName: string, options: PostgresConnectionOptions): Promise<PostgresConnectionOptions> {
        await this.drop();
        await adminSql(`CREATE DATABASE ${this.database}`);
        // Changed in place, as @vendure/testing's own initializers do: the server reads these options.
        Object.assign(options, { database: this.database, synchronize: true });
        return options;
    }

    async populate(populate: () => Promise<void>): Promise<void> {
        await populate();
    }

    destroy(): void {
        // Called right after populating, before the server starts: the database is dropped by drop().
    }

    drop(): Promise<void> {
        return adminSql(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
    }
}
