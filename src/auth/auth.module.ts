import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard.js';
import { Authenticator } from './authenticator.js';
import { DriverTokenService } from './driver-token.service.js';
import { DriverTokensRepository } from './driver-tokens.repository.js';

/** Who is calling: the global guard, the Authenticator behind it, and driver tokens. */
@Module({
  providers: [DriverTokensRepository, DriverTokenService, Authenticator, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [Authenticator, DriverTokenService],
})
export class AuthModule {}
