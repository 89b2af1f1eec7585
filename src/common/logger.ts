import { LoggerService } from '@nestjs/common';
import { WinstonModule } from 'nest-winston';
import winston from 'winston';
import { LogLevel } from '../config/app-config.js';
import { requestContext } from './request-context.js';

/** Adds the current request id to every line written inside a request. */
const withRequestId = winston.format((info) => {
  const requestId = requestContext.requestId();
  if (requestId !== undefined && info.requestId === undefined) info.requestId = requestId;
  return info;
});

export function createWinstonLogger(level: LogLevel): winston.Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), withRequestId(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

/** The Nest application logger: JSON lines on stdout, one per event. */
export function createAppLogger(level: LogLevel): LoggerService {
  return WinstonModule.createLogger({ instance: createWinstonLogger(level) });
}
