import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { DomainError } from '../common/domain-error.js';
import { requestTarget } from '../common/request-target.js';
import { SignatureError, StandardWebhook } from '../common/standard-webhook.js';
import { rateLimited, RateLimiter, RateLimitName } from '../rate-limit/rate-limiter.js';
import { looksLikeDriverToken } from './driver-token.js';
import { DriverTokenService } from './driver-token.service.js';
import { CallerKind, Principal } from './principal.js';
import { bearerToken, secretMatcher } from './secret-compare.js';

/** Who may use a route: what its decorators say (see auth.decorators.ts), or a route's own declaration. */
export interface RouteAccess {
  callers: readonly CallerKind[];
  /** A driver token may act only on the driver this route parameter names. */
  ownDriverParam?: string;
  /** The caller's allowance per minute, spent once the caller is known (see RateLimiter). */
  rateLimit?: RateLimitName;
}

/** What authentication reads of a request. */
export interface CallerRequest {
  method: string;
  /** The path and query; the path is what `webhook-target-signature` covers. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  params?: unknown;
  rawBody?: Buffer;
}

/** The header that binds a signed request to its method and path (see `verifyTarget`). */
export const TARGET_SIGNATURE_HEADER = 'webhook-target-signature';

const unauthenticated = (message: string) => new DomainError('UNAUTHENTICATED', message);
const forbidden = (message: string) => new DomainError('FORBIDDEN', message);

/**
 * Proves who is calling (admin key, driver token, Standard Webhooks
 * signature) and whether the route lets them: the one check behind the
 * global guard and every route served outside Nest's pipeline.
 */
@Injectable()
export class Authenticator {
  private readonly vendureWebhook?: StandardWebhook;
  private readonly driverWebhook?: StandardWebhook;
  private readonly isAdminKey?: (token: string) => boolean;
  /** An admin key shaped like a driver token is tried first, as any other admin key could be without a lookup. */
  private readonly adminKeyFirst: boolean;
  private readonly targetSignatureRequired: boolean;

  constructor(
    config: AppConfig,
    private readonly driverTokens: DriverTokenService,
    private readonly rateLimiter: RateLimiter,
  ) {
    if (config.vendureWebhookSecret) this.vendureWebhook = new StandardWebhook(config.vendureWebhookSecret);
    if (config.driverWebhookSecret) this.driverWebhook = new StandardWebhook(config.driverWebhookSecret);
    if (config.adminApiKey) this.isAdminKey = secretMatcher(config.adminApiKey);
    this.adminKeyFirst = config.adminApiKey !== undefined && looksLikeDriverToken(config.adminApiKey);
    this.targetSignatureRequired = config.signedTarget === 'required';
  }

  /** The caller, if the route accepts it: 401 without valid credentials, 403 on a route or driver not theirs, 429 past its allowance. */
  async authorize(request: CallerRequest, access: RouteAccess): Promise<Principal> {
    const principal = await this.authenticate(request, access.callers);
    if (!access.callers.includes(principal.kind)) throw forbidden('These credentials may not use this route');
    if (principal.kind === 'driver' && access.ownDriverParam !== undefined) {
      const params = (request.params ?? {}) as Record<string, string | undefined>;
      if (params[access.ownDriverParam] !== principal.driverId) throw forbidden('A driver token acts only on its own driver');
    }
    if (access.rateLimit !== undefined) {
      const wait = await this.rateLimiter.consume(
        access.rateLimit,
        principal.kind === 'driver' ? `driver:${principal.driverId}` : principal.kind,
      );
      if (wait > 0) throw rateLimited(wait);
    }
    return principal;
  }

  private async authenticate(request: CallerRequest, callers: readonly CallerKind[]): Promise<Principal> {
    if (request.headers['webhook-signature'] !== undefined) return this.verifySignature(request, callers);

    const token = bearerToken(request.headers.authorization);
    if (!token) throw unauthenticated('Missing credentials: send Authorization: Bearer <token> or a signed request');
    // Driver tokens first: they are most of the traffic, and a token of their shape is not the admin key
    // (unless the admin key has that shape too), so the order changes no answer.
    if (this.adminKeyFirst && this.isAdminKey!(token)) return { kind: 'admin' };
    if (looksLikeDriverToken(token)) {
      const driverId = await this.driverTokens.verify(token);
      if (driverId) return { kind: 'driver', driverId };
    }
    if (this.isAdminKey?.(token)) return { kind: 'admin' };
    throw unauthenticated('Invalid or revoked token');
  }

  /**
   * `webhook-target-signature`: the same Standard Webhooks signature, with the same id and timestamp,
   * over "{METHOD} {path}" instead of the body (a stock library signs it as a payload). It binds the
   * message to the route it was meant for, so it cannot be sent to another driver or delivery even
   * before its first use. Checked whenever sent; required when SIGNED_TARGET=required.
   */
  private verifyTarget(verifier: StandardWebhook, request: CallerRequest): void {
    const signature = request.headers[TARGET_SIGNATURE_HEADER];
    if (signature === undefined) {
      if (this.targetSignatureRequired) throw new SignatureError(`Missing ${TARGET_SIGNATURE_HEADER} header`);
      return;
    }
    const target = requestTarget(request);
    try {
      verifier.verify({ ...request.headers, 'webhook-signature': signature }, target);
    } catch {
      throw new SignatureError(`${TARGET_SIGNATURE_HEADER} does not match ${target}`);
    }
  }

  private verifySignature(request: CallerRequest, callers: readonly CallerKind[]): Principal {
    // The route decides which secret applies: Vendure events or the driver app backend.
    const kind = callers.includes('vendure') ? 'vendure' : callers.includes('driver-backend') ? 'driver-backend' : null;
    if (kind === null) throw unauthenticated('Signed requests are not accepted on this route');
    const verifier = kind === 'vendure' ? this.vendureWebhook : this.driverWebhook;
    if (!verifier) throw unauthenticated('Signed requests are disabled: the signing secret is not configured');
    try {
      const { id } = verifier.verify(request.headers, request.rawBody ?? Buffer.alloc(0));
      this.verifyTarget(verifier, request);
      return { kind, messageId: id };
    } catch (error) {
      if (error instanceof SignatureError) throw unauthenticated(`Invalid signature: ${error.message}`);
      throw error;
    }
  }
}
