import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { replyWithError } from '../common/all-exceptions.filter.js';
import { errorResponse } from '../common/api-docs.decorators.js';
import { AppConfig } from '../config/app-config.js';
import { Lifecycle } from '../health/lifecycle.js';
import { TrackingViewDto } from './dto/tracking.response.js';
import { TrackingFeed } from './tracking-feed.js';
import { TrackingService } from './tracking.service.js';

/** The routes a tracking token opens, and the page's files. */
export const TRACKING_ROUTES = [
  { method: 'GET', url: '/track/:token' },
  { method: 'GET', url: '/track/:token/events' },
  { method: 'GET', url: '/track/:token/page' },
  { method: 'GET', url: '/track/assets/:file' },
] as const;

const require = createRequire(import.meta.url);
const pageFile = (name: string) => readFileSync(new URL(`./page/${name}`, import.meta.url));

/** The page's static files: Leaflet from npm, and the page's own script and styles. */
function assets(): Map<string, { type: string; body: Buffer }> {
  const leaflet = (file: string) => readFileSync(require.resolve(`leaflet/dist/${file}`));
  return new Map([
    ['leaflet.js', { type: 'text/javascript; charset=utf-8', body: leaflet('leaflet.js') }],
    ['leaflet.css', { type: 'text/css; charset=utf-8', body: leaflet('leaflet.css') }],
    ['tracking-page.js', { type: 'text/javascript; charset=utf-8', body: pageFile('tracking-page.js') }],
    ['tracking-page.css', { type: 'text/css; charset=utf-8', body: pageFile('tracking-page.css') }],
  ]);
}

/** The tile server's origin for the page's CSP (`{s}.` subdomains as a wildcard); none without tiles. */
export function tileSource(tileUrl: string): string | null {
  if (!tileUrl) return null;
  const url = new URL(tileUrl.replace(/\{s\}\./, 'x-subdomain.'));
  return url.host.startsWith('x-subdomain.') ? `${url.protocol}//*.${url.host.slice('x-subdomain.'.length)}` : url.origin;
}

/** The page: its config (tiles) inline as JSON that no script runs, everything else from /track/assets/. */
function pageHtml(config: AppConfig): string {
  const settings = JSON.stringify({ tileUrl: config.trackingTileUrl, tileAttribution: config.trackingTileAttribution }).replace(
    /</g,
    '\\u003c',
  );
  return pageFile('page.html')
    .toString('utf8')
    .replace('__CONFIG__', () => settings);
}

function pagePolicy(config: AppConfig): string {
  const tiles = tileSource(config.trackingTileUrl);
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data:${tiles ? ` ${tiles}` : ''}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The id a reconnecting EventSource sends back: the seq of the last status change it saw (0: none). */
export function lastEventId(header: string | string[] | undefined): number {
  const value = Array.isArray(header) ? header[0] : header;
  const seq = value !== undefined && /^\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : 0;
  return Number.isSafeInteger(seq) && seq <= 2_147_483_647 ? seq : 0;
}

/**
 * `GET /track/:token` (the delivery as the customer sees it),
 * `GET /track/:token/events` (its Server-Sent Events), `GET /track/:token/page`
 * and the page's files. The token is the only credential; these routes
 * take no other, and the token opens no other route. Served by Fastify
 * directly: the stream writes to the socket for as long as the delivery lasts.
 */
export function registerTrackingRoutes(app: NestFastifyApplication): void {
  const config = app.get(AppConfig);
  const tracking = app.get(TrackingService);
  const feed = app.get(TrackingFeed);
  const lifecycle = app.get(Lifecycle);
  const files = assets();
  const page = pageHtml(config);
  const policy = pagePolicy(config);
  const fastify = app.getHttpAdapter().getInstance();
  const tokenOf = (request: FastifyRequest) => (request.params as { token: string }).token;

  fastify.get('/track/:token', async (request, reply) => {
    try {
      const { delivery } = await tracking.resolve(tokenOf(request));
      return reply.header('cache-control', 'no-store').send(await tracking.view(delivery));
    } catch (error) {
      return replyWithError(reply, error);
    }
  });

  // No automatic HEAD route: a HEAD would hold a stream's place with nothing to send.
  fastify.get('/track/:token/events', { exposeHeadRoute: false }, async (request: FastifyRequest, reply: FastifyReply) => {
    let hijacked = false;
    try {
      const { tokenHash, delivery } = await tracking.resolve(tokenOf(request));
      // The header from an EventSource's own reconnection; the query from a page that reconnects by hand.
      const after = lastEventId(request.headers['last-event-id'] ?? (request.query as { lastEventId?: string }).lastEventId);
      // Ended, and the client saw its end: 204 tells an EventSource to stop reconnecting.
      if (delivery.endedAt && delivery.lastSeq <= after) return reply.status(204).header('cache-control', 'no-store').send();
      feed.admit(tokenHash);
      reply.hijack();
      hijacked = true;
      const response = reply.raw;
      // The client may have gone while the link was looked up: no stream for it ('close' has fired already).
      if (request.raw.destroyed || response.destroyed) {
        response.destroy();
        return reply;
      }
      const headers = Object.entries(reply.getHeaders()).filter(
        (entry): entry is [string, string | number | string[]] => entry[1] !== undefined,
      );
      response.writeHead(200, {
        ...Object.fromEntries(headers),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // nginx and similar proxies would otherwise buffer the stream.
        'x-accel-buffering': 'no',
        // Hijacked, the answer skips the hooks that say so: a stopping process lets the connection go.
        ...(lifecycle.shuttingDown ? { connection: 'close' } : {}),
      });
      response.flushHeaders();
      request.raw.socket.setNoDelay(true);
      // No await from here on: 'close' cannot fire before its listener is attached.
      const release = feed.add(delivery, tokenHash, after, {
        write: (chunk) => response.write(chunk),
        once: (event, listener) => response.once(event, listener),
        end: () => {
          // Ended by a stopping process: the client's reconnection must go to another one, not down this socket.
          const socket = lifecycle.shuttingDown ? response.socket : null;
          response.end();
          socket?.end();
        },
      });
      response.once('close', release);
      if (response.destroyed) release();
      return reply;
    } catch (error) {
      // Once the answer is ours, an error can only end the connection.
      if (hijacked) {
        reply.raw.destroy();
        return reply;
      }
      return replyWithError(reply, error);
    }
  });

  fastify.get('/track/:token/page', async (request, reply) => {
    try {
      await tracking.resolve(tokenOf(request));
      return reply
        .header('content-security-policy', policy)
        .header('cache-control', 'no-store')
        .type('text/html; charset=utf-8')
        .send(page);
    } catch (error) {
      return replyWithError(reply, error);
    }
  });

  fastify.get('/track/assets/:file', async (request, reply) => {
    const file = files.get((request.params as { file: string }).file);
    if (!file) return reply.status(404).send({ statusCode: 404, error: 'Not Found', message: 'No such file', code: 'NOT_FOUND' });
    return reply.header('cache-control', 'public, max-age=3600').type(file.type).send(file.body);
  });
}

/** Adds the routes to the OpenAPI document. */
export function documentTrackingRoutes(document: OpenAPIObject): void {
  const token = {
    name: 'token',
    in: 'path' as const,
    required: true,
    description: "The tracking link's token",
    schema: { type: 'string' },
  };
  const notFound = errorResponse(
    'TRACKING_LINK_NOT_FOUND: no link with this token, or it expired (TRACKING_LINK_TTL_SECONDS after the delivery ended)',
  );
  document.paths['/track/{token}'] = {
    get: {
      operationId: 'Tracking_view',
      summary: 'The delivery as its customer sees it (the tracking token is the credential)',
      description:
        "Status, the driver's first name and vehicle, the driver's position (only while ASSIGNED or PICKED_UP), the ETA, pickup and drop-off. " +
        'No phone number, no driver id, nothing about other deliveries.',
      tags: ['tracking'],
      security: [],
      parameters: [token],
      responses: {
        200: {
          description: 'The delivery',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${TrackingViewDto.name}` } } },
        },
        404: notFound,
      },
    },
  };
  document.paths['/track/{token}/events'] = {
    get: {
      operationId: 'Tracking_events',
      summary: 'Server-Sent Events of the delivery: status changes and positions',
      description:
        "Events: `status` (`{status, previousStatus, at}`, id: the change's seq), `position` (`{lat, lon, recordedAt, etaSeconds}`, at most one a second, " +
        "only while ASSIGNED or PICKED_UP; id: the last status change's) and `end` (the delivery ended; the stream closes). " +
        'A client reconnecting with `Last-Event-ID` gets every status change after it first; with none, every change from the start. ' +
        'A comment line every TRACKING_HEARTBEAT_SECONDS keeps proxies from closing an idle stream. Changes made through any process reach every stream.',
      tags: ['tracking'],
      security: [],
      parameters: [
        token,
        {
          name: 'Last-Event-ID',
          in: 'header',
          required: false,
          description: 'The id of the last event received',
          schema: { type: 'string' },
        },
        {
          name: 'lastEventId',
          in: 'query',
          required: false,
          description: 'The same, for a client that cannot set the header (a page reconnecting by hand); the header wins when both come',
          schema: { type: 'string' },
        },
      ],
      responses: {
        200: { description: 'The stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        204: { description: 'The delivery has ended and the client has seen its last change: nothing more will come' },
        404: notFound,
        429: errorResponse(
          'TOO_MANY_STREAMS: this link holds TRACKING_MAX_STREAMS_PER_LINK open streams, or the process TRACKING_MAX_STREAMS; Retry-After gives the seconds to wait',
          true,
        ),
      },
    },
  };
  document.paths['/track/{token}/page'] = {
    get: {
      operationId: 'Tracking_page',
      summary: 'The tracking page for the customer: status, ETA and a live map',
      description:
        'A static page (Leaflet, served by the service) that reads `GET /track/{token}` and follows its event stream. ' +
        'Tiles come from TRACKING_TILE_URL; with none reachable (or TRACKING_TILE_URL=none) the map shows the points alone.',
      tags: ['tracking'],
      security: [],
      parameters: [token],
      responses: { 200: { description: 'The page', content: { 'text/html': { schema: { type: 'string' } } } }, 404: notFound },
    },
  };
  document.paths['/track/assets/{file}'] = {
    get: {
      operationId: 'Tracking_asset',
      summary: "The tracking page's files: leaflet.js, leaflet.css (Leaflet, from npm), tracking-page.js, tracking-page.css",
      description: 'Public, cacheable for an hour; the same for every link.',
      tags: ['tracking'],
      security: [],
      parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
      responses: {
        200: {
          description: 'The file',
          content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } },
        },
        404: errorResponse('NOT_FOUND: no such file'),
      },
    },
  };
}
