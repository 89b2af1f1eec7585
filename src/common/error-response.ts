import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { isDatabaseUnavailable } from './database-unavailable.js';
import { DomainError } from './domain-error.js';
import { ErrorCode } from './error-codes.js';

/** The contract's error body. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
  code: ErrorCode;
}

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'DATABASE_UNAVAILABLE',
};

/** Fastify's own errors (body parsing, content type) by their `code`. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_BAD_URL: 'MALFORMED_REQUEST',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

/** PostgreSQL refused a value (data exception, SQLSTATE 22xxx, or NOT NULL): bad input that validation missed. */
function isRejectedValue(error: unknown): boolean {
  const code = (error as { driverError?: { code?: unknown } })?.driverError?.code;
  return typeof code === 'string' && (code.startsWith('22') || code === '23502');
}

/** A client error raised by Fastify itself (FST_ERR_* with a 4xx status). */
function isFastifyError(error: unknown): error is { code: string; statusCode: number; message: string } {
  const { code, statusCode } = (error ?? {}) as { code?: unknown; statusCode?: unknown };
  return typeof code === 'string' && code.startsWith('FST_') && typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500;
}

/** The contract's error body for `statusCode`, with its reason phrase. */
export function errorBody(statusCode: number, code: ErrorCode, message: string | string[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code };
}

function httpExceptionMessage(exception: HttpException): string | string[] {
  const response = exception.getResponse();
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (typeof message === 'string' || (Array.isArray(message) && message.every((m) => typeof m === 'string'))) {
    return message;
  }
  return exception.message;
}

/** An error answer stored earlier (a replayed signed request), sent again as it was. */
export class StoredErrorResponse extends Error {
  constructor(readonly body: unknown) {
    super('A stored error answer, sent again');
    this.name = 'StoredErrorResponse';
  }
}

function isErrorBody(value: unknown): value is ErrorBody {
  const candidate = value as Partial<ErrorBody> | null;
  return typeof candidate?.statusCode === 'number' && typeof candidate.code === 'string';
}

/**
 * Maps anything thrown while serving a request to the contract's error body.
 * `unexpected` is true for errors that are bugs (answered 500 and logged).
 */
export function toErrorResponse(exception: unknown): { body: ErrorBody; unexpected: boolean } {
  // Nest wraps Fastify's own errors (body parsing, content type) in an HttpException; unwrap them.
  if (exception instanceof HttpException && isFastifyError(exception.cause)) exception = exception.cause;
  if (exception instanceof StoredErrorResponse && isErrorBody(exception.body)) {
    return { body: exception.body, unexpected: false };
  }
  if (exception instanceof DomainError) {
    return { body: errorBody(exception.status, exception.code, exception.details), unexpected: false };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const code = CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'VALIDATION_FAILED');
    return { body: errorBody(status, code, httpExceptionMessage(exception)), unexpected: status >= 500 };
  }
  if (isRejectedValue(exception)) {
    return { body: errorBody(400, 'VALIDATION_FAILED', 'A value in the request cannot be stored'), unexpected: false };
  }
  if (isDatabaseUnavailable(exception)) {
    return {
      body: errorBody(HttpStatus.SERVICE_UNAVAILABLE, 'DATABASE_UNAVAILABLE', 'The database is unavailable; try again shortly'),
      unexpected: false,
    };
  }
  if (isFastifyError(exception)) {
    const status = exception.statusCode;
    const code = FASTIFY_CODES[exception.code] ?? CODE_BY_STATUS[status] ?? 'VALIDATION_FAILED';
    return { body: errorBody(status, code, exception.message), unexpected: false };
  }
  return { body: errorBody(500, 'INTERNAL_ERROR', 'Internal server error'), unexpected: true };
}
