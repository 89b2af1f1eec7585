import { ArgumentMetadata, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { DomainError } from './domain-error.js';

function messagesOf(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((m) =>
      // class-validator words messages with the bare property name; name the full path.
      parent && m.startsWith(`${error.property} `) ? `${path}${m.slice(error.property.length)}` : m,
    );
    return [...own, ...messagesOf(error.children ?? [], path)];
  });
}

function fieldsWithNul(value: unknown, path = '', depth = 0): string[] {
  if (typeof value === 'string') return value.includes('\u0000') ? [path || 'value'] : [];
  if (typeof value !== 'object' || value === null || depth > 8) return [];
  return Object.entries(value).flatMap(([key, child]) => fieldsWithNul(child, path ? `${path}.${key}` : key, depth + 1));
}

/**
 * The global validation pipe: unknown fields are rejected, every offending
 * field is named, and a body that is not a JSON object is refused outright.
 */
@Injectable()
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      transform: true,
      validationError: { target: false, value: false },
      exceptionFactory: (errors) => new DomainError('VALIDATION_FAILED', messagesOf(errors)),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && value !== undefined && value !== null) {
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new DomainError('VALIDATION_FAILED', ['request body must be a JSON object']);
      }
    }
    if (metadata.type === 'body' || metadata.type === 'query') {
      // PostgreSQL cannot store NUL in text; refuse it here rather than fail at the database.
      const withNul = fieldsWithNul(value);
      if (withNul.length > 0) throw new DomainError('VALIDATION_FAILED', withNul.map((f) => `${f} must not contain NUL characters`));
    }
    return super.transform(value, metadata);
  }
}
