import { applyDecorators } from '@nestjs/common';
import { ApiBadRequestResponse, ApiForbiddenResponse, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error.response.js';

/** The descriptions of the error answers in the OpenAPI document, for the decorators and for routes served outside Nest. */
export const ERROR_DESCRIPTIONS = {
  400: 'VALIDATION_FAILED: every offending field is named',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  429: 'RATE_LIMITED: the allowance per minute is spent; the Retry-After header gives the seconds to wait',
} as const;

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' as const } } };

/** The error answers every authenticated route can give. */
export const ApiAuthErrors = () =>
  applyDecorators(
    ApiBadRequestResponse({ type: ErrorResponseDto, description: ERROR_DESCRIPTIONS[400] }),
    ApiUnauthorizedResponse({ type: ErrorResponseDto, description: ERROR_DESCRIPTIONS[401] }),
    ApiForbiddenResponse({ type: ErrorResponseDto, description: ERROR_DESCRIPTIONS[403] }),
  );

/** A rate-limited route's 429. */
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
