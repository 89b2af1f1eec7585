/**
 * `npm run migration:run` — applies pending migrations and exits. The service
 * does the same at start-up unless DB_MIGRATIONS_RUN=false.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from '../config/load-config.js';
import { createWinstonLogger } from '../common/logger.js';
import { buildDataSourceOptions } from './data-source-options.js';

const config = loadConfig(process.env);
const logger = createWinstonLogger(config.logLevel);
const dataSource = await new DataSource(buildDataSourceOptions(config)).initialize();
try {
  const applied = await dataSource.runMigrations({ transaction: 'each' });
  logger.info(applied.length ? `Applied ${applied.map((m) => m.name).join(', ')}` : 'No pending migrations');
} finally {
  await dataSource.destroy();
}
