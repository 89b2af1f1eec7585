import { LoggerService } from '@nestjs/common';
import type { Writable } from 'node:stream';
import winston from 'winston';
import { LogLevel } from '../config/app-config.js';
import { requestContext } from './request-context.js';

/** Adds the current request id to every line written inside a request. */
const withRequestId = winston.format((info) => {
  const requestId = requestContext.requestId();
  if (requestId !== undefined && info.requestId === undefined) info.requestId = requestId;
  return info;
});

/** JSON lines on stdout (or on `stream`, which tests use to read what was logged). */
export function createWinstonLogger(level: LogLevel, stream?: Writable): winston.Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), withRequestId(), winston.format.json()),
    transports: [stream ? new winston.transports.Stream({ stream }) : new winston.transports.Console()],
  });
}

/**
 * Nest's logger interface over winston. (nest-winston would do the same, but
 * it is CommonJS requiring the ESM-only @nestjs/common, which Jest's module
 * runtime cannot load, so the logging could not be tested.)
 */
export class WinstonLogger implements LoggerService {
  constructor(private readonly winston: winston.Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  /** Nest passes `(message, context)`, or `(message, stack, context)` for errors. */
  private write(level: LogLevel, message: unknown, params: unknown[]): void {
    if (!this.winston.isLevelEnabled(level)) return;
    const context = params.length > 0 && typeof params[params.length - 1] === 'string' ? params.pop() : undefined;
    const stack = level === 'error' && typeof params[0] === 'string' ? params[0] : undefined;
    const text = message instanceof Error ? message.message : typeof message === 'string' ? message : JSON.stringify(message);
    this.winston.log({ level, message: text, ...(context ? { context } : {}), ...(stack ? { stack } : {}) });
  }
}

/** The Nest application logger: one JSON line per event. */
export function createAppLogger(level: LogLevel, stream?: Writable): LoggerService {
  return new WinstonLogger(createWinstonLogger(level, stream));
}
