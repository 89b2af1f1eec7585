import type { OpenAPIObject, OperationObject } from '@nestjs/swagger';
import { DeliveryWebhookDto } from '../deliveries/dto/delivery-webhook.dto.js';
import type { DeliveryStatus } from '../deliveries/delivery.entity.js';
import { EVENT_TYPES } from '../deliveries/delivery-state-machine.js';

/** What each `delivery.*` message reports, by the status the delivery reached. */
const WHAT_HAPPENED: Record<DeliveryStatus, string> = {
  PENDING:
    'The order waits for a driver: none was in reach (`reason` NO_DRIVER_AVAILABLE), or its driver declined, let the offer time out, ' +
    'was reassigned or was lost (`reason` says which; `attempt` counts up). `driverId` is null.',
  OFFERED: 'A driver holds an offer for the order until it accepts, declines or the offer times out (OFFER_TIMEOUT_SECONDS).',
  ASSIGNED: 'A driver is assigned: at once in auto mode, or by accepting its offer.',
  PICKED_UP: 'The driver picked the order up.',
  DELIVERED: 'The driver delivered the order. Final; the driver is AVAILABLE again.',
  FAILED: 'The driver reported the delivery failed (`reason`: what it gave). Final; the driver is AVAILABLE again.',
  CANCELLED: 'The delivery was cancelled, by Vendure or an operator (`reason`, when one was given). Final; its driver, if any, is freed.',
  EXPIRED: 'No driver took the order before its wait ended (`waitUntil` of its ready answer). Final; `driverId` is null.',
};

const DELIVERY =
  'Sent as a POST to VENDURE_WEBHOOK_URL, signed with VENDURE_WEBHOOK_SECRET (Standard Webhooks, as the `vendureSignature` scheme describes). ' +
  'At least once: the message is written in the transaction of the change and sent until a 2xx answer arrives, with the same ' +
  '`webhook-id` on every attempt (de-duplicate by it). In order per delivery: a later message of a delivery is not sent before an ' +
  'earlier one was accepted.';

/** The operation id of a message type: `delivery.picked_up` → `deliveryPickedUpWebhook`. */
const operationIdOf = (type: string) => `${type.replace(/[._](\w)/g, (_, c: string) => c.toUpperCase())}Webhook`;

function webhookOperation(status: DeliveryStatus): OperationObject {
  const type = EVENT_TYPES[status];
  return {
    operationId: operationIdOf(type),
    summary: `${type}: the delivery is ${status}`,
    description: `${WHAT_HAPPENED[status]}\n\n${DELIVERY}`,
    tags: ['webhooks'],
    security: [{ vendureSignature: [] }],
    parameters: [
      { name: 'webhook-id', in: 'header', required: true, description: 'The message id, the same on every attempt', schema: { type: 'string' } },
      { name: 'webhook-timestamp', in: 'header', required: true, description: 'Unix seconds when this attempt was signed', schema: { type: 'string' } },
      {
        name: 'x-request-id',
        in: 'header',
        required: false,
        description: 'The request id of the request that caused the change, when one did (also `data.requestId`)',
        schema: { type: 'string' },
      },
    ],
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: {
            allOf: [
              { $ref: `#/components/schemas/${DeliveryWebhookDto.name}` },
              // OpenAPI 3.1 schemas are JSON Schema 2020-12: `const` pins the type and status of this message.
              { type: 'object', properties: { type: { const: type }, data: { type: 'object', properties: { status: { const: status } } } } } as object,
            ],
          },
        },
      },
    },
    responses: {
      '2XX': { description: 'Accepted: the message is not sent again' },
      default: {
        description:
          'Any other answer (a 3xx too: redirects are not followed), or none within 15 s: sent again later, by WEBHOOK_RETRY_SCHEDULE_SECONDS ' +
          '(by default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after the attempts before), or after a longer Retry-After, honoured up to ' +
          '1 h (or the scheduled wait, if longer). After the last attempt the message is `failed`: see `GET /webhooks/messages?status=failed` ' +
          'and `POST /webhooks/messages/{id}/retry`.',
      },
    },
  };
}

/** The OpenAPI 3.1 `webhooks`: every message the service sends to Vendure, one entry per `type`. */
export function documentDeliveryWebhooks(document: OpenAPIObject): void {
  document.webhooks = Object.fromEntries(
    (Object.keys(EVENT_TYPES) as DeliveryStatus[]).map((status) => [EVENT_TYPES[status], { post: webhookOperation(status) }]),
  );
}
