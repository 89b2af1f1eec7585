import type { DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { AppConfig } from '../config/app-config.js';
import { DeliveryEventEntity } from '../deliveries/delivery-event.entity.js';
import { DeliveryEntity } from '../deliveries/delivery.entity.js';
import { DriverEntity } from '../drivers/driver.entity.js';
import { createEmbeddedDriver } from './embedded-postgres.js';

export const ENTITIES = [DriverEntity, DeliveryEntity, DeliveryEventEntity];

/** One place that turns the configuration into TypeORM options, for the app and the CLI alike. */
export function buildDataSourceOptions(config: AppConfig): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities: ENTITIES,
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
