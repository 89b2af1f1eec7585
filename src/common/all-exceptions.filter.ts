import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DomainError } from './domain-error.js';
import { toErrorResponse } from './error-response.js';

const logger = new Logger('Errors');

/** Answers `exception` in the contract's shape; bugs are logged with their stack, an unreachable database as a warning. */
export function replyWithError(reply: FastifyReply, exception: unknown): FastifyReply {
  const { body, unexpected } = toErrorResponse(exception);
  if (unexpected) {
    logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
  } else if (body.code === 'DATABASE_UNAVAILABLE') {
    logger.warn(`Database unavailable: ${exception instanceof Error ? exception.message : String(exception)}`);
  }
  if (exception instanceof DomainError) void reply.headers(exception.headers);
  return reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
}

/** The one exception filter: every error leaves the service in the contract's shape. */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    replyWithError(host.switchToHttp().getResponse<FastifyReply>(), exception);
  }
}
