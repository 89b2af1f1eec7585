import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AuthModule } from './auth/auth.module.js';
import { AvailabilityModule } from './availability/availability.module.js';
import { AllExceptionsFilter } from './common/all-exceptions.filter.js';
import { StrictValidationPipe } from './common/validation.pipe.js';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { DeliveriesModule } from './deliveries/deliveries.module.js';
import { DriversModule } from './drivers/drivers.module.js';
import { EventsModule } from './events/events.module.js';
import { HealthModule } from './health/health.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { RateLimitModule } from './rate-limit/rate-limit.module.js';
import { RedisModule } from './redis/redis.module.js';
import { RetentionModule } from './retention/retention.module.js';
import { SignedRequestsModule } from './signed-requests/signed-requests.module.js';
import { OutboxModule } from './outbox/outbox.module.js';
import { TrackingModule } from './tracking/tracking.module.js';

@Module({})
export class AppModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.register(config),
        DatabaseModule,
        RedisModule,
        RateLimitModule,
        MetricsModule,
        AuthModule,
        DriversModule,
        AvailabilityModule,
        DeliveriesModule,
        EventsModule,
        HealthModule,
        OutboxModule,
        SignedRequestsModule,
        RetentionModule,
        TrackingModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_PIPE, useClass: StrictValidationPipe },
      ],
    };
  }
}
