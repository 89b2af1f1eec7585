import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DriverTokenService } from '../auth/driver-token.service.js';
import { replyWithError } from '../common/all-exceptions.filter.js';
import { ERROR_DESCRIPTIONS, errorResponse } from '../common/api-docs.decorators.js';
import { DomainError } from '../common/domain-error.js';
import { AvailabilityService } from './availability.service.js';
import { LocationAcceptedDto, LocationBatchAcceptedDto } from './dto/update-location.dto.js';
import { OsmAndError, readOsmAnd } from './osmand.js';

/** The OsmAnd / Traccar Client protocol: the driver's token is the app's device identifier. */
export const OSMAND_ROUTES = [
  { method: 'GET', url: '/osmand' },
  { method: 'POST', url: '/osmand' },
] as const;

/** Form bodies are small: one point, a dozen fields. */
const FORM_LIMIT_BYTES = 16 * 1024;

/**
 * `GET|POST /osmand`: location updates from a stock Traccar Client (or any
 * OsmAnd-protocol app) with the driver's token as its device identifier. The
 * token comes in the query or the body, never a header; the request log
 * line leaves the query out, so it is in no log. Then the same path as
 * `PATCH /drivers/:id/location` (or the batch route, for a Traccar batch):
 * AvailabilityService, rate limit and quality filters included. The form
 * parser is registered for these routes only; every other route still
 * answers 415 to a form.
 */
export function registerOsmAndRoutes(app: NestFastifyApplication): void {
  const tokens = app.get(DriverTokenService);
  const availability = app.get(AvailabilityService);

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const report = readOsmAnd((request.query ?? {}) as Record<string, unknown>, request.body);
      const driverId = report.token ? await tokens.verify(report.token) : null;
      if (!driverId) throw new DomainError('UNAUTHENTICATED', 'id must be the token of an active driver');
      const answer =
        report.points.length === 1
          ? await availability.recordLocation(driverId, report.points[0])
          : await availability.recordLocations(driverId, report.points);
      return reply.status(200).send(answer);
    } catch (error) {
      return replyWithError(reply, error instanceof OsmAndError ? new DomainError('VALIDATION_FAILED', error.problems) : error);
    }
  };

  void app
    .getHttpAdapter()
    .getInstance()
    .register((scope: FastifyInstance, _options, done) => {
      scope.addContentTypeParser(
        'application/x-www-form-urlencoded',
        { parseAs: 'string', bodyLimit: FORM_LIMIT_BYTES },
        (_request, body, done) => {
          done(null, Object.fromEntries(new URLSearchParams(body as string)));
        },
      );
      for (const route of OSMAND_ROUTES) scope.route({ method: route.method, url: route.url, handler });
      done();
    });
}

/** Adds the routes to the OpenAPI document. */
export function documentOsmAndRoutes(document: OpenAPIObject): void {
  const field = (name: string, description: string, required = false) => ({
    name,
    in: 'query' as const,
    required,
    description,
    schema: { type: 'string' },
  });
  const parameters = [
    field('id', "The driver's token (the app's device identifier); `deviceid` is accepted too", true),
    field('lat', 'Latitude, -90 to 90', true),
    field('lon', 'Longitude, -180 to 180', true),
    field(
      'timestamp',
      'When the point was taken: unix seconds or milliseconds, an ISO-8601 date-time, or yyyy-MM-dd HH:mm:ss (UTC); default now',
    ),
    field('speed', 'Knots'),
    field('bearing', 'Degrees from north (or `heading`)'),
    field('accuracy', 'Metres'),
    field('altitude', 'Metres; accepted, not kept'),
    field('batt', 'Battery percent; accepted, not kept'),
  ];
  const schema = (dto: { name: string }) => ({ $ref: `#/components/schemas/${dto.name}` });
  const answer = {
    200: {
      description:
        'Recorded (or acknowledged and ignored, as a location update is): as `PATCH /drivers/{id}/location` answers, or for a Traccar batch as `POST /drivers/{id}/locations`',
      content: { 'application/json': { schema: { anyOf: [schema(LocationAcceptedDto), schema(LocationBatchAcceptedDto)] } } },
    },
    400: errorResponse(ERROR_DESCRIPTIONS[400]),
    401: errorResponse("UNAUTHENTICATED: no token, or not an active driver's"),
    429: errorResponse(ERROR_DESCRIPTIONS[429], true),
    503: errorResponse(ERROR_DESCRIPTIONS[503]),
  };
  const summary = 'Location from a Traccar Client / OsmAnd app (the driver token as device identifier)';
  // The token is the `id` field, not a header: to OpenAPI these operations take no credentials.
  const about =
    'The driver token is the `id` field (`device_id` in the JSON body); the same rate limit and quality filters as `PATCH /drivers/{id}/location` apply. ' +
    'A stock Traccar Client app pointed at the service is a working driver app for location. Tokens sent in the query never appear in logs.';
  document.paths['/osmand'] = {
    get: { operationId: 'OsmAnd_get', summary, description: about, tags: ['drivers'], security: [], parameters, responses: answer },
    post: {
      operationId: 'OsmAnd_post',
      summary,
      description:
        'The same fields in the query or as a form body, or the JSON body of Traccar Client 9+: `{device_id, location: {timestamp, coords: {latitude, longitude, accuracy, speed (m/s), heading, altitude}}}`, `location` also as an array of up to 100. ' +
        about,
      tags: ['drivers'],
      security: [],
      parameters: parameters.map((p) => ({ ...p, required: false })),
      requestBody: {
        required: false,
        content: {
          'application/x-www-form-urlencoded': { schema: { type: 'object', additionalProperties: { type: 'string' } } },
          'application/json': { schema: { type: 'object', properties: { device_id: { type: 'string' }, location: {} } } },
        },
      },
      responses: {
        ...answer,
        413: errorResponse('PAYLOAD_TOO_LARGE: a form body over 16 KiB, a JSON body over 64 KiB'),
        415: errorResponse('UNSUPPORTED_MEDIA_TYPE: the body is neither a form (application/x-www-form-urlencoded) nor JSON'),
      },
    },
  };
}
