import type { SecurityRequirementObject, SecuritySchemeObject } from '@nestjs/swagger';
import type { CallerKind } from '../auth/principal.js';

const signature = (caller: string, secret: string, extra: string): SecuritySchemeObject => ({
  type: 'apiKey',
  in: 'header',
  name: 'webhook-signature',
  description:
    `${caller}: a [Standard Webhooks](https://www.standardwebhooks.com/) signature with \`${secret}\`. ` +
    'Three headers: `webhook-id` (the message id, the same on every retry of one message), ' +
    "`webhook-timestamp` (unix seconds, within 5 minutes of the service's clock either way) and " +
    '`webhook-signature`: `v1,<base64 of HMAC-SHA256("{webhook-id}.{webhook-timestamp}.{raw body}")>`, ' +
    `keyed with the base64-decoded part of \`${secret}\` after \`whsec_\`; several space-separated signatures are allowed ` +
    '(for a key rotation) and compared in constant time. A webhook-id seen in the last 10 minutes with the same body ' +
    'gets the same answer again; with a different body, or on another route (method and path) than it was first sent to, ' +
    '409 WEBHOOK_ID_REUSED. The optional `webhook-target-signature` header binds a message to its route from the start. ' +
    `While \`${secret}\` is unset, signed requests answer 401. ${extra}`,
});

/** How each kind of caller proves itself (see auth/authenticator.ts), as OpenAPI security schemes. */
export const SECURITY_SCHEMES = {
  adminKey: {
    type: 'http',
    scheme: 'bearer',
    description:
      'Operators: `Authorization: Bearer <ADMIN_API_KEY>`. An opaque key of at least 32 characters (not a JWT), compared in constant time. ' +
      'It may use the admin routes and everything a driver may, for any driver. While ADMIN_API_KEY is unset, the routes that need it answer 401.',
  },
  driverToken: {
    type: 'http',
    scheme: 'bearer',
    description:
      "One driver's app: `Authorization: Bearer <driver token>`. An opaque token (not a JWT), shown once by `POST /drivers` or " +
      '`POST /drivers/{id}/token`, and only its hash is stored. It acts only on its own driver and its own deliveries ' +
      "(another driver's: 403 FORBIDDEN); a rotation makes every earlier token stop working within 60 s.",
  },
  vendureSignature: signature(
    'Vendure',
    'VENDURE_WEBHOOK_SECRET',
    'The service signs the `delivery.*` webhooks it sends to VENDURE_WEBHOOK_URL the same way, with the same secret.',
  ),
  driverBackendSignature: signature('The driver app backend', 'DRIVER_WEBHOOK_SECRET', 'It may act for any driver.'),
  metricsToken: {
    type: 'http',
    scheme: 'bearer',
    description: '`Authorization: Bearer <METRICS_TOKEN>` on `GET /metrics`, when METRICS_TOKEN is set; the route is open otherwise. Opaque, not a JWT.',
  },
} as const satisfies Record<string, SecuritySchemeObject>;

export type SecuritySchemeName = keyof typeof SECURITY_SCHEMES;

const SCHEME_OF: Record<CallerKind, SecuritySchemeName> = {
  admin: 'adminKey',
  driver: 'driverToken',
  vendure: 'vendureSignature',
  'driver-backend': 'driverBackendSignature',
};

/** The callers a route accepts, as the alternatives of an operation's `security`: none for a public route. */
export function securityOf(callers: readonly CallerKind[] | 'public'): SecurityRequirementObject[] {
  return callers === 'public' ? [] : callers.map((caller) => ({ [SCHEME_OF[caller]]: [] }));
}

/** The callers who sign their requests rather than send a bearer token. */
export const SIGNING_CALLERS: readonly CallerKind[] = ['vendure', 'driver-backend'];
