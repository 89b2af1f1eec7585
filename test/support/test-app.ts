import type { LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { createApp } from '../../src/app.factory.js';
import { loadConfig } from '../../src/config/load-config.js';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
export const DRIVER_SECRET = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
export const VENDURE_SECRET = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;

export interface TestApp {
  app: NestFastifyApplication;
  server: ReturnType<NestFastifyApplication['getHttpServer']>;
  close: () => Promise<void>;
}

/**
 * The real application (same factory as `main.ts`) on the given environment,
 * initialised but not listening: supertest drives its HTTP server directly.
 */
export async function startTestApp(env: Record<string, string | undefined>, options: { logger?: LoggerService } = {}): Promise<TestApp> {
  const config = loadConfig({
    ADMIN_API_KEY: ADMIN_KEY,
    DRIVER_WEBHOOK_SECRET: DRIVER_SECRET,
    VENDURE_WEBHOOK_SECRET: VENDURE_SECRET,
    NODE_ENV: 'test',
    ...env,
  });
  const app = await createApp(config, options.logger ?? false, { swaggerUi: false });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return { app, server: app.getHttpServer(), close: () => app.close() };
}

export async function flushRedis(url: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  await redis.flushdb();
  await redis.quit();
}

export const admin = { authorization: `Bearer ${ADMIN_KEY}` };
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
