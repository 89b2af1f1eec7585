import { HttpStatus } from '@nestjs/common';

/**
 * Every stable machine code the API answers with, and its HTTP status.
 * Clients branch on `code`; the map is exhaustive so a new code cannot ship
 * without a status.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: HttpStatus.BAD_REQUEST,
  INVALID_JSON: HttpStatus.BAD_REQUEST,
  INVALID_CURSOR: HttpStatus.BAD_REQUEST,
  UNAUTHENTICATED: HttpStatus.UNAUTHORIZED,
  FORBIDDEN: HttpStatus.FORBIDDEN,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  DRIVER_NOT_FOUND: HttpStatus.NOT_FOUND,
  DELIVERY_NOT_FOUND: HttpStatus.NOT_FOUND,
  WEBHOOK_MESSAGE_NOT_FOUND: HttpStatus.NOT_FOUND,
  METHOD_NOT_ALLOWED: HttpStatus.METHOD_NOT_ALLOWED,
  DRIVER_PHONE_TAKEN: HttpStatus.CONFLICT,
  DRIVER_HAS_ACTIVE_DELIVERY: HttpStatus.CONFLICT,
  INVALID_DELIVERY_TRANSITION: HttpStatus.CONFLICT,
  DELIVERY_ALREADY_FINISHED: HttpStatus.CONFLICT,
  WEBHOOK_ALREADY_DELIVERED: HttpStatus.CONFLICT,
  WEBHOOK_ID_REUSED: HttpStatus.CONFLICT,
  WEBHOOK_IN_PROGRESS: HttpStatus.CONFLICT,
  PAYLOAD_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  UNSUPPORTED_MEDIA_TYPE: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
  RATE_LIMITED: HttpStatus.TOO_MANY_REQUESTS,
  DATABASE_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
  INTERNAL_ERROR: HttpStatus.INTERNAL_SERVER_ERROR,
} as const satisfies Record<string, HttpStatus>;

export type ErrorCode = keyof typeof ERROR_STATUS;
