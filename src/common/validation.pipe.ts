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
    return super.transform(value, metadata);
  }
}
