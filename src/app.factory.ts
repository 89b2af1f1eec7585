import { Logger, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module.js';
import { registerLocationRoute } from './availability/location.route.js';
import { registerOsmAndRoutes } from './availability/osmand.route.js';
import { registerOrderReadyRoute } from './events/order-ready.route.js';
import { registerTrackingRoutes } from './tracking/tracking.routes.js';
import { ConnectionDrain } from './common/connection-drain.js';
import { HELMET_OPTIONS, securityHeaders } from './common/security-headers.js';
import { DomainError } from './common/domain-error.js';
import { pathOf } from './common/request-target.js';
import { RouteTable } from './common/route-table.js';
import { clientErrorHandler, expectationFailed, frameworkErrors } from './common/protocol-errors.js';
import { requestContext, requestIdFrom } from './common/request-context.js';
import { AppConfig } from './config/app-config.js';
import { Lifecycle } from './health/lifecycle.js';
import { MetricsService } from './metrics/metrics.service.js';
import { buildOpenApiDocument } from './openapi/openapi-document.js';

/** Bodies above this size are refused with 413 before they are parsed. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const drains = new WeakMap<NestFastifyApplication, ConnectionDrain>();

/** The application's connection drain, which `main.ts` runs before closing it. */
export function connectionDrain(app: NestFastifyApplication): ConnectionDrain {
  return drains.get(app)!;
}

/**
 * Builds the application — adapter, hooks, docs — without listening, so the
 * service and the integration tests run exactly the same wiring.
 */
export async function createApp(
  config: AppConfig,
  logger: LoggerService | false,
  options: { swaggerUi?: boolean } = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: (request: IncomingMessage) => requestIdFrom(request.headers['x-request-id']),
    // Idle keep-alive sockets are closed at shutdown; busy ones finish their request first.
    forceCloseConnections: 'idle',
    // Clients that read the Keep-Alive hint drop idle connections before the server does,
    // so closing an idle one (at this timeout, or after a drain) never meets a request on its way.
    keepAliveTimeout: config.httpKeepAliveTimeoutMs,
    frameworkErrors,
    clientErrorHandler,
    // A client has this long to send a whole request, headers and body: a body dripped a byte at a time
    // (or never finished) is answered 408 and its socket closed, instead of holding the connection forever.
    requestTimeout: config.httpRequestTimeoutMs,
    http: {
      // An HTTP/1.1 request without Host reaches the hook below, which answers it in the contract's shape.
      requireHostHeader: false,
      requestTimeout: config.httpRequestTimeoutMs,
      headersTimeout: Math.min(60_000, config.httpRequestTimeoutMs),
      // Node checks those timeouts on this period (30 s by default): a slow request is cut within a second of its limit.
      connectionsCheckingInterval: 1_000,
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.register(config), adapter, {
    rawBody: true,
    // JSON is the only body type the API takes; registered below, so anything else answers 415.
    bodyParser: false,
    logger: logger === false ? false : logger,
    abortOnError: false,
  });

  const fastify = app.getHttpAdapter().getInstance();
  // With a listener, Node leaves the answer to an unsupported Expect to us (it would send a bare 417).
  fastify.server.on('checkExpectation', expectationFailed);
  // Every route, Nest's and Fastify's own, as it is registered: a known path with another method answers 405.
  const routes = new RouteTable();
  fastify.addHook('onRoute', (route) => routes.add(route.method, route.url));
  const drain = new ConnectionDrain();
  drains.set(app, drain);
  // Helmet's headers on every answer, computed once (see securityHeaders).
  const security = securityHeaders(HELMET_OPTIONS);
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.headers(security);
    void reply.header('x-request-id', request.id);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      done(new DomainError('MALFORMED_REQUEST', 'An HTTP/1.1 request must carry a Host header'));
      return;
    }
    // No route matched: if the path has routes for other methods, 405 with them in Allow (RFC 9110), not 404.
    if (request.routeOptions.url === undefined) {
      const allowed = routes.allowed(pathOf(request.url));
      if (allowed.length > 0) {
        done(
          new DomainError('METHOD_NOT_ALLOWED', `${request.method} is not allowed here; allowed: ${allowed.join(', ')}`, {
            allow: allowed.join(', '),
          }),
        );
        return;
      }
    }
    requestContext.run({ requestId: request.id }, done);
  });
  // Once shutdown begins (its grace period included), answers close their connection, so keep-alive
  // clients move to another instance and the server is not held open by idle sockets.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  const lifecycle = app.get(Lifecycle);
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing || drain.draining || lifecycle.shuttingDown) void reply.header('connection', 'close');
    done(null, payload);
  });
  const metrics = app.get(MetricsService);
  // One line per request at debug level only: at info the hot routes would flood the logs.
  const requestLogger = config.logLevel === 'debug' ? new Logger('Http') : undefined;
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.observe(request, reply);
    requestLogger?.debug(
      `${request.method} ${request.routeOptions?.url ?? pathOf(request.url)} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`,
    );
    done();
  });
  app.useBodyParser('application/json', { bodyLimit: BODY_LIMIT_BYTES });
  // Fastify's built-in text/plain parser would otherwise hand a string to the handlers.
  fastify.removeContentTypeParser('text/plain');

  if (config.corsOrigins.length > 0) app.enableCors({ origin: config.corsOrigins });
  // Routes served by Fastify itself rather than a Nest controller (see location.route.ts, osmand.route.ts, order-ready.route.ts).
  registerLocationRoute(app);
  registerOsmAndRoutes(app);
  registerOrderReadyRoute(app);
  registerTrackingRoutes(app);

  const document = buildOpenApiDocument(app);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
    // The UI's static files come through @fastify/static, which Jest's module runtime cannot load;
    // in-process tests turn the UI off and the process-level tests check it.
    swaggerUiEnabled: options.swaggerUi ?? true,
  });
  return app;
}
