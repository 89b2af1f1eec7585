import { applyDecorators } from '@nestjs/common';
import { ApiBadRequestResponse, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error.response.js';

/** The error answers every authenticated route can give. */
export const ApiAuthErrors = () =>
  applyDecorators(
    ApiBadRequestResponse({ type: ErrorResponseDto, description: 'VALIDATION_FAILED: every offending field is named' }),
    ApiUnauthorizedResponse({ type: ErrorResponseDto, description: 'UNAUTHENTICATED' }),
    ApiForbiddenResponse({ type: ErrorResponseDto, description: 'FORBIDDEN' }),
  );
