import { ERROR_STATUS, ErrorCode } from './error-codes.js';

/** The one error type the service throws on purpose; the filter maps it to HTTP. */
export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string | string[],
    /** Headers the answer carries (Retry-After on a 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(Array.isArray(message) ? message.join('; ') : message);
    this.name = 'DomainError';
    this.details = message;
  }

  readonly details: string | string[];

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}
