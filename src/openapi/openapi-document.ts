import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { LocationAcceptedDto, UpdateLocationDto } from '../availability/dto/update-location.dto.js';
import { documentLocationRoute } from '../availability/location.route.js';
import { documentOsmAndRoutes } from '../availability/osmand.route.js';
import { SellerOrderReadyAnswerDto, SellerOrderReadyDto } from '../events/dto/seller-order-ready.dto.js';
import { documentOrderReadyRoute } from '../events/order-ready.route.js';
import { TrackingViewDto } from '../tracking/dto/tracking.response.js';
import { documentTrackingRoutes } from '../tracking/tracking.routes.js';
import { DeliveryWebhookDto } from '../deliveries/dto/delivery-webhook.dto.js';
import { documentDeliveryWebhooks } from './delivery-webhooks.docs.js';
import { documentRouteAccess, routesWithAccess } from './route-access.docs.js';
import { SECURITY_SCHEMES } from './security-schemes.js';

const DESCRIPTION = [
  'Driver management and delivery orchestration for Vendure: drivers, their location and availability, dispatch of ready orders ' +
    'to the nearest driver, the delivery state machine, and signed webhooks back to Vendure.',
  'JSON bodies in UTF-8, at most 64 KiB; unknown body fields are refused. Ids are UUIDs, timestamps ISO-8601 UTC, distances metres, ' +
    'coordinates WGS84 decimal degrees.',
  'Errors answer `{statusCode, error, message, code}` (ErrorResponseDto); clients branch on `code`. Besides the answers each operation ' +
    'lists, any request can get 400 MALFORMED_REQUEST, 408 REQUEST_TIMEOUT, 414 URI_TOO_LONG or 431 HEADERS_TOO_LARGE when it is ' +
    'malformed, too large or too slow to arrive, 417 EXPECTATION_FAILED for an Expect other than 100-continue, and 404 NOT_FOUND ' +
    'or 405 METHOD_NOT_ALLOWED (with Allow) off the routes listed here.',
  "Every answer carries `x-request-id` (the caller's, when it sent one); the same id is in every log line and webhook the request caused.",
  'Callers prove themselves with a bearer token (an operator\'s ADMIN_API_KEY, a driver token) or a Standard Webhooks signature ' +
    "(Vendure, the driver app backend): each operation's `security` lists the ones it accepts. `webhooks` describes the messages " +
    'the service sends to VENDURE_WEBHOOK_URL.',
].join('\n\n');

const TAGS = {
  drivers: 'Drivers: registration, profiles and tokens (operators); location, availability and their own work (drivers and the driver app backend)',
  deliveries: "Deliveries: the state machine, its audit trail, offers and reassignment; a driver sees and moves only its own",
  events: 'What Vendure sends, signed with VENDURE_WEBHOOK_SECRET: a ready order to dispatch, a cancelled one',
  webhooks: 'The `delivery.*` messages the service sends to VENDURE_WEBHOOK_URL, and the operators\' view of their outbox',
  tracking: "Live tracking for customers: links made by operators or Vendure, and the view, event stream and page a link's token opens",
  operations: 'Health and metrics, for load balancers, orchestrators and monitoring',
};

/**
 * The OpenAPI 3.1 document the service serves at /docs-json, built from the
 * controllers' decorators, the routes Fastify serves itself and the access
 * rules the auth guard applies. Needs the application's module graph only,
 * not its database: `scripts/openapi.mjs` builds it from a preview of the
 * application.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const builder = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('Driver service')
    .setDescription(DESCRIPTION)
    .setVersion('1')
    .setLicense('MIT', 'https://spdx.org/licenses/MIT.html')
    .addServer('http://localhost:3001', 'The service on this machine, on its default port (PORT)');
  for (const [name, description] of Object.entries(TAGS)) builder.addTag(name, description);
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) builder.addSecurity(name, scheme);

  const document = SwaggerModule.createDocument(app, builder.build(), {
    extraModels: [UpdateLocationDto, LocationAcceptedDto, SellerOrderReadyDto, SellerOrderReadyAnswerDto, DeliveryWebhookDto, TrackingViewDto],
    // Every controller names its tag; the class name would add one more per controller.
    autoTagControllers: false,
  });
  documentLocationRoute(document);
  documentOsmAndRoutes(document);
  documentOrderReadyRoute(document);
  documentTrackingRoutes(document);
  documentRouteAccess(document, routesWithAccess(app));
  documentDeliveryWebhooks(document);
  return document;
}
