import { Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { buildDataSourceOptions } from './data-source-options.js';
import { runMigrations } from './run-migrations.js';
import { staleSqlRoutines } from './sql-routines.js';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        ...buildDataSourceOptions(config),
        autoLoadEntities: true,
        retryAttempts: 5,
        retryDelay: 2_000,
      }),
    }),
  ],
  providers: [
    {
      // Pending migrations and changed SQL routines are applied before the service takes traffic (DB_MIGRATIONS_RUN).
      provide: 'MIGRATIONS_APPLIED',
      inject: [AppConfig, DataSource],
      useFactory: async (config: AppConfig, dataSource: DataSource) => {
        const logger = new Logger('Database');
        if (!config.migrationsRun) {
          const stale = await staleSqlRoutines(dataSource).catch((error: Error) => [`(none readable: ${error.message})`]);
          if (stale.length > 0) {
            logger.error(
              `SQL routines not applied by this release: ${stale.join(', ')}; run npm run migration:run (DB_MIGRATIONS_RUN=false)`,
            );
          }
          return { migrations: [], routines: [] };
        }
        const applied = await runMigrations(dataSource, config.database.kind === 'embedded');
        for (const name of applied.migrations) logger.log(`Applied migration ${name}`);
        for (const name of applied.routines) logger.log(`Applied SQL routines ${name}`);
        return applied;
      },
    },
  ],
  exports: ['MIGRATIONS_APPLIED'],
})
export class DatabaseModule {}
