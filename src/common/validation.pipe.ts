import { ArgumentMetadata, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { DomainError } from './domain-error.js';

function messagesOf(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.entries(error.constraints ?? {}).map(([constraint, m]) =>
      // class-validator words messages with the bare property name; name the full path.
      !parent
        ? m
        : constraint === 'whitelistValidation'
          ? `property ${path} should not exist`
          : m.startsWith(`${error.property} `)
            ? `${path}${m.slice(error.property.length)}`
            : m,
    );
    return [...own, ...messagesOf(error.children ?? [], path)];
  });
}

/** Deeper JSON than any request of the API needs; deeper input is refused before anything recurses into it. */
export const MAX_DEPTH = 16;
/** Names class-validator's whitelist cannot see as unknown, because every object inherits them. */
const INHERITED_NAMES = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/**
 * What no field may hold, found without recursion (a body nested thousands
 * deep must not overflow the stack): nesting beyond MAX_DEPTH, inherited
 * names used as field names, and NUL characters, which PostgreSQL cannot
 * store, in names or values. Messages never echo a NUL.
 */
function structuralProblems(root: unknown, what: string): string[] {
  const problems: string[] = [];
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: '', depth: 0 }];
  while (stack.length > 0 && problems.length < 20) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) problems.push(`${path || 'value'} must not contain NUL characters`);
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_DEPTH) {
      problems.push(`${what} must not nest deeper than ${MAX_DEPTH} levels`);
      break;
    }
    for (const [key, child] of Object.entries(value)) {
      if (key.includes('\u0000')) {
        problems.push(`${path ? `${path}: a` : 'A'} field name must not contain NUL characters`);
        continue;
      }
      const childPath = path ? `${path}.${key}` : key;
      if (!Array.isArray(value) && INHERITED_NAMES.has(key)) problems.push(`property ${childPath} should not exist`);
      stack.push({ value: child, path: childPath, depth: depth + 1 });
    }
  }
  return problems;
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
    // A DTO may offer a cheap check that passes only what its decorators accept (a batch of 100 points costs
    // class-validator milliseconds); anything else is validated in full, so every problem is still named.
    const quick = (metadata.metatype as { isPlainValid?: (value: unknown) => boolean } | undefined)?.isPlainValid;
    if (metadata.type === 'body' && quick?.(value)) return value;
    if (metadata.type === 'body' && value !== undefined && value !== null) {
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new DomainError('VALIDATION_FAILED', ['request body must be a JSON object']);
      }
    }
    if (metadata.type === 'body' || metadata.type === 'query') {
      const problems = structuralProblems(value, metadata.type === 'body' ? 'request body' : 'query');
      if (problems.length > 0) throw new DomainError('VALIDATION_FAILED', problems);
    }
    return super.transform(value, metadata);
  }
}
