import { ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error.response.js';

/**
 * The descriptions of the error answers every route of a kind can give, in the
 * OpenAPI document: the `code` each carries first. Route-specific codes (a 404,
 * a 409 of the state machine) are declared on the route itself.
 */
export const ERROR_DESCRIPTIONS = {
  400: 'VALIDATION_FAILED: every offending field is named',
  invalidJson: 'INVALID_JSON: the body is not JSON',
  invalidCursor: 'INVALID_CURSOR: `cursor` is not one this list gave',
  401: 'UNAUTHENTICATED: missing or bad credentials, or the secret they need is not configured',
  403: 'FORBIDDEN: these credentials may not use this route',
  ownDriver: 'a driver token on another driver',
  replay:
    'WEBHOOK_ID_REUSED: this webhook-id came with another body in the last 10 minutes; WEBHOOK_IN_PROGRESS: a request with this webhook-id is still being answered, retry later',
  413: 'PAYLOAD_TOO_LARGE: the body is over 64 KiB',
  415: 'UNSUPPORTED_MEDIA_TYPE: the body is not application/json',
  429: 'RATE_LIMITED: the allowance per minute is spent; the Retry-After header gives the seconds to wait',
  503: 'DATABASE_UNAVAILABLE: PostgreSQL cannot be reached; nothing was changed, try again shortly',
} as const;

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' as const } } };

/**
 * A route's 429 when its limit is not its access's `rateLimit` (whose 429
 * the document adds by itself): location updates, limited per driver in their
 * own Redis script.
 */
export const ApiTooManyRequests = () =>
  ApiTooManyRequestsResponse({ type: ErrorResponseDto, description: ERROR_DESCRIPTIONS[429], headers: RETRY_AFTER });

/** An error answer as an OpenAPI response object, for an operation written out by hand. */
export function errorResponse(description: string, withRetryAfter = false) {
  return {
    description,
    ...(withRetryAfter ? { headers: RETRY_AFTER } : {}),
    content: { 'application/json': { schema: { $ref: `#/components/schemas/${ErrorResponseDto.name}` } } },
  };
}
