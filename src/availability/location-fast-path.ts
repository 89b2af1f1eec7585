import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerToken } from '../auth/secret-compare.js';
import { replyWithError } from '../common/all-exceptions.filter.js';
import { DriverTokenService } from '../auth/driver-token.service.js';
import { looksLikeDriverToken } from '../auth/driver-token.js';
import { AvailabilityService } from './availability.service.js';
import { DATE_TIME, isRealDateTime, MAX_CLOCK_SKEW_MS } from './dto/update-location.dto.js';

const ROUTE = '/drivers/:id/location';
const RANGES: Record<string, [number, number]> = { lat: [-90, 90], lon: [-180, 180], accuracy: [0, 100_000], heading: [0, 360], speed: [0, 150] };

const inRange = (value: unknown, [min, max]: [number, number]) => typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max;

/**
 * True only for a body UpdateLocationDto accepts: lat and lon, optional
 * accuracy, heading and speed as numbers in range, an optional recordedAt
 * that is a real date-time with an offset, not over 5 minutes ahead, and
 * nothing else. Anything else (null included) is left to the validation
 * pipe, which names the problem; test/location-fast-path.e2e-spec.ts checks
 * this is a subset of what the DTO accepts.
 */
export function isPlainValidLocation(body: unknown, now = Date.now()): body is { lat: number; lon: number; recordedAt?: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const fields = body as Record<string, unknown>;
  if (!inRange(fields.lat, RANGES.lat) || !inRange(fields.lon, RANGES.lon)) return false;
  for (const key of Object.keys(fields)) {
    if (key === 'recordedAt') {
      const at = fields.recordedAt;
      if (typeof at !== 'string' || !DATE_TIME.test(at) || !isRealDateTime(at) || Date.parse(at) > now + MAX_CLOCK_SKEW_MS) return false;
    } else if (!Object.hasOwn(RANGES, key) || !inRange(fields[key], RANGES[key])) return false;
  }
  return true;
}

/**
 * The location route's hot case, served from a Fastify preHandler: a driver
 * reporting its own valid location with its own token. It does what the Nest
 * route does — the token checked through the same cache, the same
 * AvailabilityService call (rate limit, Redis script, write-behind), errors
 * answered by the same code as the exception filter — without Nest's guard,
 * interceptor and validation machinery, which cost more than the work
 * itself. Every other request (another caller, another driver, a signed
 * request, a body that is not plainly valid) goes on to the Nest route, so
 * its answers, and the OpenAPI document, are unchanged.
 */
export function registerLocationFastPath(app: NestFastifyApplication): void {
  const tokens = app.get(DriverTokenService);
  const availability = app.get(AvailabilityService);
  app.getHttpAdapter().getInstance().addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'PATCH' || request.routeOptions.url !== ROUTE || request.headers['webhook-signature'] !== undefined) return;
    const token = bearerToken(request.headers.authorization);
    if (!token || !looksLikeDriverToken(token) || !isPlainValidLocation(request.body)) return;
    // A lookup that fails (the database away) is left to the Nest route, which answers it as usual.
    const driverId = await tokens.verify(token).catch(() => null);
    if (driverId === null || driverId !== (request.params as { id: string }).id) return;
    const { lat, lon, recordedAt } = request.body;
    try {
      const answer = await availability.recordLocation(driverId, { lat, lon, recordedAt: recordedAt === undefined ? undefined : new Date(recordedAt) });
      return reply.status(200).send(answer);
    } catch (error) {
      return replyWithError(reply, error);
    }
  });
}
