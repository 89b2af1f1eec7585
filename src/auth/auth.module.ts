import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { DriversModule } from '../drivers/drivers.module.js';
import { AuthGuard } from './auth.guard.js';

@Module({
  imports: [DriversModule],
  providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
})
export class AuthModule {}
