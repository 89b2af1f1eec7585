import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { AppConfig } from '../config/app-config.js';
import { createEmbeddedDriver } from './embedded-postgres.js';

/**
 * One place that turns the configuration into TypeORM options, for the app and
 * the CLI alike. Entities come from the feature modules that use them
 * (`TypeOrmModule.forFeature`, loaded by the database module); the CLI only
 * runs migrations and needs none.
 */
export function buildDataSourceOptions(config: AppConfig): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    migrations: MIGRATIONS,
    migrationsRun: false,
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    logging: false,
  };
  const db = config.database;
  if (db.kind === 'embedded') {
    return { ...common, driver: createEmbeddedDriver(db.dataDir), database: 'postgres', poolSize: 1 };
  }
  return {
    ...common,
    url: db.url,
    host: db.host,
    port: db.port,
    database: db.database,
    username: db.username,
    password: db.password,
    poolSize: db.poolSize,
    applicationName: 'driver-service',
    extra: {
      // Fail fast instead of queueing forever when PostgreSQL is unreachable or a query hangs.
      connectionTimeoutMillis: 3_000,
      query_timeout: 15_000,
      keepAlive: true,
    },
  };
}
