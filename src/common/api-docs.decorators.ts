import { applyDecorators } from '@nestjs/common';
import { ApiBadRequestResponse, ApiForbiddenResponse, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error.response.js';

/** The error answers every authenticated route can give. */
export const ApiAuthErrors = () =>
  applyDecorators(
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'VALIDATION_FAILED: every offending field is named' }),
    ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'UNAUTHENTICATED' }),
    ApiForbiddenResponse({ type: ErrorResponseDto, description: 'FORBIDDEN' }),
  );

/** A rate-limited route's 429. */
export const ApiTooManyRequests = () =>
  ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'RATE_LIMITED: the allowance per minute is spent; the Retry-After header gives the seconds to wait',
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  });
