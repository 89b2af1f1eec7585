import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Authenticator, RouteAccess } from '../auth/authenticator.js';
import { replyWithError } from '../common/all-exceptions.filter.js';
import { ERROR_DESCRIPTIONS, errorResponse } from '../common/api-docs.decorators.js';
import { UuidParam } from '../common/uuid-param.pipe.js';
import { StrictValidationPipe } from '../common/validation.pipe.js';
import { SignedRequestReplayService } from '../signed-requests/signed-request-replay.service.js';
import { AvailabilityService } from './availability.service.js';
import { isPlainValidLocation, LocationAcceptedDto, UpdateLocationDto } from './dto/update-location.dto.js';

/** The route, and who may use it: a driver's app, the driver app backend (for any driver) and operators; a driver token only on its own driver. */
export const LOCATION_ROUTE = {
  method: 'PATCH',
  url: '/drivers/:id/location',
  access: { callers: ['admin', 'driver', 'driver-backend'], ownDriverParam: 'id' } satisfies RouteAccess,
} as const;

/**
 * `PATCH /drivers/:id/location`, the one implementation of location updates,
 * for every caller. Pings are most of the traffic, and on this route Nest's
 * per-request machinery (router, guard, interceptor, pipes) cost more than the
 * ping itself, so it is a Fastify route that takes the same steps with the
 * same code: the Authenticator behind the global guard, replay safety for
 * signed requests, the UUID check of the path, UpdateLocationDto's rules (an
 * ordinary body passes the quick check made from them; any other goes
 * through the validation pipe, which names every problem), and errors
 * answered as the exception filter answers them. The hooks every route has
 * (request id, security headers, metrics, drain) apply to it as to the rest.
 */
export function registerLocationRoute(app: NestFastifyApplication): void {
  const authenticator = app.get(Authenticator);
  const replays = app.get(SignedRequestReplayService);
  const availability = app.get(AvailabilityService);
  const uuid = UuidParam('id');
  const validation = new StrictValidationPipe();

  // Each argument through the global pipe, then its own, as Nest runs them.
  const driverId = async (raw: string): Promise<string> =>
    (await uuid.transform(await validation.transform(raw, { type: 'param', data: 'id', metatype: String }), {
      type: 'param',
      data: 'id',
    })) as string;
  const body = async (raw: unknown): Promise<UpdateLocationDto> =>
    isPlainValidLocation(raw)
      ? raw
      : ((await validation.transform(raw, { type: 'body', metatype: UpdateLocationDto })) as UpdateLocationDto);

  app
    .getHttpAdapter()
    .getInstance()
    .route({
      method: LOCATION_ROUTE.method,
      url: LOCATION_ROUTE.url,
      handler: async (request: FastifyRequest & { rawBody?: Buffer }, reply: FastifyReply) => {
        // An empty segment ("/drivers//location") is no route, as Nest's adapter answers it for its own routes.
        if ((request.params as { id: string }).id === '') return reply.callNotFound();
        try {
          const principal = await authenticator.authorize(request, LOCATION_ROUTE.access);
          const answer = await replays.once(principal, request, 200, async () => {
            // The path and the body are checked together, as Nest checks a handler's arguments: the first refusal answers.
            const [id, { recordedAt, ...point }] = await Promise.all([driverId((request.params as { id: string }).id), body(request.body)]);
            return availability.recordLocation(id, { ...point, recordedAt: recordedAt === undefined ? undefined : new Date(recordedAt) });
          });
          return reply.status(200).send(answer);
        } catch (error) {
          return replyWithError(reply, error);
        }
      },
    });
}

/**
 * Adds the route to the OpenAPI document, as its decorators would have described it on a controller.
 * Its security and the errors every route of its access gives are added with every route's (openapi/route-access.docs.ts).
 */
export function documentLocationRoute(document: OpenAPIObject): void {
  const schema = (dto: { name: string }) => ({ $ref: `#/components/schemas/${dto.name}` });
  document.paths[LOCATION_ROUTE.url.replace(':id', '{id}')] = {
    patch: {
      operationId: 'DriverAvailabilityController_updateLocation',
      summary: "Report the driver's location; also its heartbeat. Never changes its status.",
      description:
        'The driver (its token), the driver app backend (signed) or an operator. A point older than the stored one (phones deliver out of order), ' +
        'less accurate than LOCATION_MAX_ACCURACY_METERS or implying a speed over LOCATION_MAX_SPEED_KMH is acknowledged and ignored, ' +
        'and still counts as a heartbeat. Once answered, `GET /drivers/{id}` returns the point, in any process.',
      tags: ['drivers'],
      parameters: [{ name: 'id', required: true, in: 'path', schema: { type: 'string' } }],
      requestBody: { required: true, content: { 'application/json': { schema: schema(UpdateLocationDto) } } },
      responses: {
        200: {
          description: 'Recorded, or acknowledged and ignored',
          content: { 'application/json': { schema: schema(LocationAcceptedDto) } },
        },
        404: errorResponse('DRIVER_NOT_FOUND'),
        429: errorResponse(ERROR_DESCRIPTIONS[429], true),
      },
    },
  };
}
