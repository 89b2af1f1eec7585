import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { setTimeout as delay } from 'node:timers/promises';
import { connectionDrain, createApp } from './app.factory.js';
import { createAppLogger } from './common/logger.js';
import { ConfigError, loadConfig } from './config/load-config.js';
import { DataDirectoryLockedError } from './database/embedded-lock.js';
import { Lifecycle } from './health/lifecycle.js';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  let app;
  try {
    app = await createApp(config, createAppLogger(config.logLevel));
  } catch (error) {
    // One line that says what to do, not a stack trace.
    if (error instanceof DataDirectoryLockedError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = new Logger('Bootstrap');
  await app.listen({ port: config.port, host: '0.0.0.0' });
  const database = config.database.kind === 'embedded' ? `embedded PGlite in ${config.database.dataDir}` : 'PostgreSQL';
  const redis = config.redis.kind === 'disabled' ? 'no Redis' : 'Redis';
  logger.log(`Listening on port ${config.port} (${database}, ${redis})`);
  const secrets = {
    ADMIN_API_KEY: config.adminApiKey,
    VENDURE_WEBHOOK_SECRET: config.vendureWebhookSecret,
    DRIVER_WEBHOOK_SECRET: config.driverWebhookSecret,
  };
  for (const [name, value] of Object.entries(secrets)) {
    if (!value) logger.warn(`${name} is not set: the callers that need it are refused`);
  }
  if (config.nodeEnv === 'production' && config.publicBaseUrl.startsWith('http://localhost:')) {
    logger.warn(`PUBLIC_BASE_URL is not set: tracking links point to ${config.publicBaseUrl}, which customers cannot reach`);
  }
  const lifecycle = app.get(Lifecycle);
  const graceMs = config.shutdownGraceSeconds * 1000;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    // From now on /health/ready answers 503, so a load balancer stops sending new requests here.
    lifecycle.beginShutdown();
    logger.log(
      graceMs > 0
        ? `${signal} received: not ready; serving for ${config.shutdownGraceSeconds} s more, then finishing requests in flight and stopping`
        : `${signal} received: finishing requests in flight, then stopping`,
    );
    const deadline = setTimeout(() => {
      logger.error(`Shutdown took longer than ${config.shutdownGraceSeconds} s + ${config.shutdownTimeoutMs} ms; exiting`);
      process.exit(1);
    }, graceMs + config.shutdownTimeoutMs);
    deadline.unref();
    // Keep-alive clients are let go one answer (or one idle timeout) at a time; 2 s of the budget stay for the close.
    // With no grace period the listener closes in this tick, before another connection is accepted.
    (graceMs > 0 ? delay(graceMs) : Promise.resolve())
      .then(() => {
        // Streams held open on purpose end now; their clients reconnect to another process.
        lifecycle.beginDrain();
        return connectionDrain(app).drain(app.getHttpServer(), Math.max(0, config.shutdownTimeoutMs - 2_000));
      })
      .then(() => app.close())
      .then(
        () => {
          logger.log('Stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error(`Shutdown failed: ${error instanceof Error ? error.message : String(error)}`);
          process.exit(1);
        },
      );
  };
  // `on`, not `once`: a repeated signal during shutdown must not fall back to the default (immediate exit).
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // PM2 sends 'shutdown' over IPC on Windows and with --shutdown-with-message.
  process.on('message', (message) => message === 'shutdown' && shutdown('SIGTERM'));
  // Only now: a SIGTERM that follows 'ready' at once must find the handler (without one, it kills the process).
  // PM2 (wait_ready) starts routing traffic to this process once it says so.
  process.send?.('ready');
}

void bootstrap().catch((error: unknown) => {
  process.stderr.write(`Start-up failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
