import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { CallerKind, Principal } from './principal.js';

export const ALLOWED_CALLERS = 'auth:allowedCallers';
export const OWN_DRIVER_PARAM = 'auth:ownDriverParam';

/** No credentials needed (health, metrics, API docs). */
export const Public = () => SetMetadata(ALLOWED_CALLERS, 'public');

/** The callers a route accepts. A route without this decorator is admin-only. */
export const AllowCallers = (...callers: CallerKind[]) => SetMetadata(ALLOWED_CALLERS, callers);

/** A driver token may only be used on the driver named by this route parameter. */
export const OwnDriverOnly = (param = 'id') => SetMetadata(OWN_DRIVER_PARAM, param);

export type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

export const CurrentPrincipal = createParamDecorator((_: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a route without authentication');
  return principal;
});
