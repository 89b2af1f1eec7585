import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Authenticator, RouteAccess } from '../auth/authenticator.js';
import { replyWithError } from '../common/all-exceptions.filter.js';
import { errorResponse } from '../common/api-docs.decorators.js';
import { StrictValidationPipe } from '../common/validation.pipe.js';
import { actorOf } from '../deliveries/actor.js';
import { AssignmentService } from '../dispatch/assignment.service.js';
import { SignedRequestReplayService } from '../signed-requests/signed-request-replay.service.js';
import { SellerOrderReadyAnswerDto, SellerOrderReadyDto } from './dto/seller-order-ready.dto.js';

/** The route, and who may use it: Vendure (signed with VENDURE_WEBHOOK_SECRET), within its allowance of ready orders. */
export const ORDER_READY_ROUTE = {
  method: 'POST',
  url: '/events/seller-order-ready',
  access: { callers: ['vendure'], rateLimit: 'orderReady' } satisfies RouteAccess,
} as const;

/**
 * `POST /events/seller-order-ready`: a ready order to dispatch. Under a surge
 * this is the route every order comes through, and Nest's per-request
 * machinery (router, guard, interceptor, pipes) cost about a tenth of the
 * service's CPU per dispatched order, so, like the location route, it is a
 * Fastify route that takes the same steps with the same code: the
 * Authenticator behind the global guard (with the route's rate limit),
 * replay safety for the signed request, the validation pipe on
 * SellerOrderReadyDto, and errors answered as the exception filter answers
 * them. The hooks every route has (request id, security headers, metrics,
 * drain) apply to it as to the rest.
 */
export function registerOrderReadyRoute(app: NestFastifyApplication): void {
  const authenticator = app.get(Authenticator);
  const replays = app.get(SignedRequestReplayService);
  const assignment = app.get(AssignmentService);
  const validation = new StrictValidationPipe();

  app
    .getHttpAdapter()
    .getInstance()
    .route({
      method: ORDER_READY_ROUTE.method,
      url: ORDER_READY_ROUTE.url,
      handler: async (request: FastifyRequest & { rawBody?: Buffer }, reply: FastifyReply) => {
        try {
          const principal = await authenticator.authorize(request, ORDER_READY_ROUTE.access);
          const answer = await replays.once(principal, request, 200, async () => {
            const order = (await validation.transform(request.body, {
              type: 'body',
              metatype: SellerOrderReadyDto,
            })) as SellerOrderReadyDto;
            return assignment.assign(order, actorOf(principal));
          });
          return reply.status(200).send(answer);
        } catch (error) {
          return replyWithError(reply, error);
        }
      },
    });
}

/**
 * Adds the route to the OpenAPI document, as its decorators described it on
 * the events controller (its 200 now described too). Its security, signature
 * headers and the errors every signed, rate-limited route gives are added
 * with every route's (openapi/route-access.docs.ts).
 */
export function documentOrderReadyRoute(document: OpenAPIObject): void {
  const schema = (dto: { name: string }) => ({ $ref: `#/components/schemas/${dto.name}` });
  const item = {
    post: {
      operationId: 'EventsController_ready',
      summary: 'Assign the nearest available driver to a ready order (idempotent on sellerOrderId)',
      description:
        'The nearest choosable driver by straight-line distance to the pickup, within ASSIGNMENT_MAX_RADIUS_KM, is assigned (auto mode) or offered ' +
        'the order (offer mode), committed and out of every search before the answer. With no driver in reach the order waits as PENDING ' +
        'for up to `maxWaitSeconds` (DISPATCH_MAX_WAIT_SECONDS); with no wait the answer is NO_DRIVER_AVAILABLE and nothing is kept. A repeat for an order with a ' +
        'live delivery answers that delivery and changes nothing. Works without Redis; with PostgreSQL down, 503 and nothing changed.',
      tags: ['events'],
      requestBody: { required: true, content: { 'application/json': { schema: schema(SellerOrderReadyDto) } } },
      responses: {
        200: {
          description: 'Assigned, offered, waiting as PENDING, or no driver available',
          content: { 'application/json': { schema: schema(SellerOrderReadyAnswerDto) } },
        },
        409: errorResponse('DELIVERY_ALREADY_FINISHED: the order was already delivered'),
      },
    },
  };
  // Where the controller listed it: before the cancellation.
  const paths = Object.entries(document.paths);
  const cancelled = paths.findIndex(([path]) => path === '/events/seller-order-cancelled');
  paths.splice(cancelled < 0 ? paths.length : cancelled, 0, [ORDER_READY_ROUTE.url, item]);
  document.paths = Object.fromEntries(paths);
}
