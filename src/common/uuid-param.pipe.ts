import { ParseUUIDPipe } from '@nestjs/common';
import { DomainError } from './domain-error.js';

/** Validates a UUID route parameter, answering 400 VALIDATION_FAILED naming it. */
export const UuidParam = (name = 'id') =>
  new ParseUUIDPipe({ exceptionFactory: () => new DomainError('VALIDATION_FAILED', [`${name} must be a UUID`]) });
