/**
 * `npm run migration:run` — applies pending migrations and changed SQL
 * routines, then exits. The service does the same at start-up unless
 * DB_MIGRATIONS_RUN=false.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { createWinstonLogger } from '../common/logger.js';
import { ConfigError, loadConfig } from '../config/load-config.js';
import { buildDataSourceOptions } from './data-source-options.js';
import { runMigrations } from './run-migrations.js';

let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}
const logger = createWinstonLogger(config.logLevel);
try {
  const dataSource = await new DataSource(buildDataSourceOptions(config)).initialize();
  try {
    const applied = await runMigrations(dataSource, config.database.kind === 'embedded');
    const names = [...applied.migrations, ...applied.routines];
    logger.info(names.length ? `Applied ${names.join(', ')}` : 'No pending migrations, no changed SQL routines');
  } finally {
    await dataSource.destroy();
  }
} catch (error) {
  logger.error(`Migrations failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
