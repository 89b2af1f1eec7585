import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ALLOWED_CALLERS, AuthenticatedRequest, OWN_DRIVER_PARAM } from './auth.decorators.js';
import { Authenticator } from './authenticator.js';
import type { CallerKind } from './principal.js';

/**
 * The global guard: every route is closed unless its metadata opens it.
 * It reads the route's `@AllowCallers` and `@OwnDriverOnly` (admin only
 * without them) and leaves the proof to the Authenticator. (The one route
 * limited per caller, ready orders, is a Fastify route that names its limit
 * in its access: order-ready.route.ts.)
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: Authenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const allowed = this.reflector.getAllAndOverride<CallerKind[] | 'public' | undefined>(ALLOWED_CALLERS, targets);
    if (allowed === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest & { rawBody?: Buffer }>();
    request.principal = await this.authenticator.authorize(request, {
      callers: allowed ?? ['admin'],
      ownDriverParam: this.reflector.getAllAndOverride<string | undefined>(OWN_DRIVER_PARAM, targets),
    });
    return true;
  }
}
