import { Global, Logger, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { buildDataSourceOptions } from './data-source-options.js';
import { runMigrations } from './run-migrations.js';

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({ ...buildDataSourceOptions(config), autoLoadEntities: true, retryAttempts: 5, retryDelay: 2_000 }),
    }),
  ],
  providers: [
    {
      // Pending migrations and changed SQL routines are applied before the service takes traffic (DB_MIGRATIONS_RUN).
      provide: 'MIGRATIONS_APPLIED',
      inject: [AppConfig, DataSource],
      useFactory: async (config: AppConfig, dataSource: DataSource) => {
        if (!config.migrationsRun) return { migrations: [], routines: [] };
        const applied = await runMigrations(dataSource, config.database.kind === 'embedded');
        const logger = new Logger('Database');
        for (const name of applied.migrations) logger.log(`Applied migration ${name}`);
        for (const name of applied.routines) logger.log(`Applied SQL routines ${name}`);
        return applied;
      },
    },
  ],
  exports: ['MIGRATIONS_APPLIED'],
})
export class DatabaseModule {}
