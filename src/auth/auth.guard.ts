import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { DriverTokenService } from '../drivers/driver-token.service.js';
import { rateLimited, RateLimiter, RateLimitName } from '../rate-limit/rate-limiter.js';
import { SignatureError, StandardWebhook } from '../webhooks/standard-webhook.js';
import { ALLOWED_CALLERS, AuthenticatedRequest, OWN_DRIVER_PARAM, RATE_LIMIT } from './auth.decorators.js';
import { CallerKind, Principal } from './principal.js';
import { bearerToken, secretMatcher } from './secret-compare.js';

const unauthenticated = (message: string) => new DomainError('UNAUTHENTICATED', message);
const forbidden = (message: string) => new DomainError('FORBIDDEN', message);

/**
 * The global guard: every route is closed unless its metadata opens it.
 * Credentials are proved here (admin key, driver token, Standard Webhooks
 * signature); which callers a route accepts comes from `@AllowCallers`.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly vendureWebhook?: StandardWebhook;
  private readonly driverWebhook?: StandardWebhook;
  private readonly isAdminKey?: (token: string) => boolean;

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
    private readonly driverTokens: DriverTokenService,
    private readonly rateLimiter: RateLimiter,
  ) {
    if (config.vendureWebhookSecret) this.vendureWebhook = new StandardWebhook(config.vendureWebhookSecret);
    if (config.driverWebhookSecret) this.driverWebhook = new StandardWebhook(config.driverWebhookSecret);
    if (config.adminApiKey) this.isAdminKey = secretMatcher(config.adminApiKey);
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const allowed = this.reflector.getAllAndOverride<CallerKind[] | 'public' | undefined>(ALLOWED_CALLERS, targets);
    if (allowed === 'public') return true;
    const callers = allowed ?? ['admin'];
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();

    const principal = await this.authenticate(request, callers);
    if (!callers.includes(principal.kind)) throw forbidden('These credentials may not use this route');

    const ownParam = this.reflector.getAllAndOverride<string | undefined>(OWN_DRIVER_PARAM, targets);
    if (principal.kind === 'driver' && ownParam !== undefined) {
      const params = request.params as Record<string, string | undefined>;
      if (params[ownParam] !== principal.driverId) throw forbidden('A driver token acts only on its own driver');
    }
    request.principal = principal;

    const limit = this.reflector.getAllAndOverride<RateLimitName | undefined>(RATE_LIMIT, targets);
    if (limit !== undefined) await this.applyRateLimit(limit, principal);
    return true;
  }

  /** 429 with Retry-After when the caller's allowance is spent (see RateLimiter; without Redis, never). */
  private async applyRateLimit(name: RateLimitName, principal: Principal): Promise<void> {
    const wait = await this.rateLimiter.consume(name, principal.kind === 'driver' ? `driver:${principal.driverId}` : principal.kind);
    if (wait > 0) throw rateLimited(wait);
  }

  private async authenticate(request: AuthenticatedRequest, callers: CallerKind[]): Promise<Principal> {
    if (request.headers['webhook-signature'] !== undefined) return this.verifySignature(request, callers);

    const token = bearerToken(request.headers.authorization);
    if (!token) throw unauthenticated('Missing credentials: send Authorization: Bearer <token> or a signed request');

    if (this.isAdminKey?.(token)) return { kind: 'admin' };
    const driverId = await this.driverTokens.verify(token);
    if (driverId) return { kind: 'driver', driverId };
    throw unauthenticated('Invalid or revoked token');
  }

  private verifySignature(request: AuthenticatedRequest, callers: CallerKind[]): Principal {
    // The route decides which secret applies: Vendure events or the driver app backend.
    const kind = callers.includes('vendure') ? 'vendure' : callers.includes('driver-backend') ? 'driver-backend' : null;
    if (kind === null) throw unauthenticated('Signed requests are not accepted on this route');
    const verifier = kind === 'vendure' ? this.vendureWebhook : this.driverWebhook;
    if (!verifier) throw unauthenticated('Signed requests are disabled: the signing secret is not configured');
    const body = (request as { rawBody?: Buffer }).rawBody ?? Buffer.alloc(0);
    try {
      const { id } = verifier.verify(request.headers, body);
      return { kind, messageId: id };
    } catch (error) {
      if (error instanceof SignatureError) throw unauthenticated(`Invalid signature: ${error.message}`);
      throw error;
    }
  }
}
