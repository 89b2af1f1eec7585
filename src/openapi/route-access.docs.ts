import { INestApplication, RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { ModulesContainer } from '@nestjs/core';
import type { OpenAPIObject, OperationObject, ParameterObject, ResponseObject } from '@nestjs/swagger';
import { ALLOWED_CALLERS, OWN_DRIVER_PARAM } from '../auth/auth.decorators.js';
import type { RouteAccess } from '../auth/authenticator.js';
import type { CallerKind } from '../auth/principal.js';
import { LOCATION_ROUTE } from '../availability/location.route.js';
import { OSMAND_ROUTES } from '../availability/osmand.route.js';
import { ORDER_READY_ROUTE } from '../events/order-ready.route.js';
import { ERROR_DESCRIPTIONS, errorResponse } from '../common/api-docs.decorators.js';
import { securityOf, SIGNING_CALLERS } from './security-schemes.js';

/** A route the service serves, and who may use it: 'public', or what the auth guard passes to the Authenticator. */
export interface RouteWithAccess {
  method: string;
  /** The route template, as `/drivers/:id`. */
  path: string;
  access: RouteAccess | 'public';
}

/**
 * Every route, with its access read from the metadata the auth guard reads
 * (handler first, then controller; admin only when undecorated), and the
 * routes Fastify serves itself from their own declarations.
 */
export function routesWithAccess(app: INestApplication): RouteWithAccess[] {
  const routes: RouteWithAccess[] = [];
  for (const module of app.get(ModulesContainer).values()) {
    for (const { metatype } of module.controllers.values()) {
      if (!metatype) continue;
      const base = String(Reflect.getMetadata(PATH_METADATA, metatype)).replace(/^\/?/, '/');
      const prototype = metatype.prototype as Record<string, object>;
      for (const name of Object.getOwnPropertyNames(prototype)) {
        const handler = prototype[name];
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        if (method === undefined) continue;
        const path = String(Reflect.getMetadata(PATH_METADATA, handler));
        const read = <T>(key: string): T | undefined =>
          (Reflect.getMetadata(key, handler) ?? Reflect.getMetadata(key, metatype)) as T | undefined;
        const callers = read<CallerKind[] | 'public'>(ALLOWED_CALLERS);
        routes.push({
          method: RequestMethod[method],
          path: path === '/' ? base : `${base}/${path}`,
          access:
            callers === 'public'
              ? 'public'
              : { callers: callers ?? ['admin'], ownDriverParam: read<string>(OWN_DRIVER_PARAM) },
        });
      }
    }
  }
  routes.push({ method: LOCATION_ROUTE.method, path: LOCATION_ROUTE.url, access: LOCATION_ROUTE.access });
  routes.push({ method: ORDER_READY_ROUTE.method, path: ORDER_READY_ROUTE.url, access: ORDER_READY_ROUTE.access });
  // The driver's token comes in the query or the body (osmand.route.ts checks it): to the guard these are public.
  for (const route of OSMAND_ROUTES) routes.push({ method: route.method, path: route.url, access: 'public' });
  return routes;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const header = (name: string, description: string, required: boolean): ParameterObject => ({
  name,
  in: 'header',
  required,
  description,
  schema: { type: 'string' },
});

/**
 * Documents, on every route's operation, what follows from its access and its
 * method rather than from its own logic: the security alternatives, the
 * signature headers, and the error answers every route of its kind can give
 * (authentication, replay safety, rate limit, body size and type, database
 * down). Answers a route declares itself keep their description; a shared
 * code it does not name is added to it.
 */
export function documentRouteAccess(document: OpenAPIObject, routes: readonly RouteWithAccess[]): void {
  for (const route of routes) {
    const operation = document.paths[route.path.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase() as 'get'];
    if (operation) documentAccess(operation, route);
  }
}

function documentAccess(operation: OperationObject, { method, access }: RouteWithAccess): void {
  const responses = operation.responses as Record<string, ResponseObject>;
  const add = (status: number, description: string, withRetryAfter = false) => {
    const existing = responses[status];
    if (!existing) responses[status] = errorResponse(description, withRetryAfter);
    else if (!existing.description.includes(description.split(':')[0])) existing.description = `${existing.description}; ${description}`;
  };
  const body = BODY_METHODS.has(method);

  if (access === 'public') {
    // A public route that checks a token of its own (GET /metrics) declares its security itself.
    operation.security ??= [];
  } else {
    operation.security = securityOf(access.callers);
    const signed = access.callers.filter((caller) => SIGNING_CALLERS.includes(caller));
    if (signed.length > 0) {
      const required = signed.length === access.callers.length;
      const when = required ? '' : ' With a signature only.';
      operation.parameters = [
        ...(operation.parameters ?? []),
        header('webhook-id', `The message id, the same on every retry of one message; the key of replay safety.${when}`, required),
        header('webhook-timestamp', `Unix seconds when the request was signed, within 5 minutes of the service's clock.${when}`, required),
        header(
          'webhook-target-signature',
          'The route, signed: `v1,<base64 of HMAC-SHA256("{webhook-id}.{webhook-timestamp}.{METHOD} {path}")>` with the same secret ' +
            '(a Standard Webhooks library signs "{METHOD} {path}" as the payload). Checked when sent; required when SIGNED_TARGET=required.',
          false,
        ),
      ];
    }
    const inputs = [
      ERROR_DESCRIPTIONS[400],
      ...(body ? [ERROR_DESCRIPTIONS.invalidJson] : []),
      ...(operation.parameters?.some((p) => 'name' in p && p.name === 'cursor') ? [ERROR_DESCRIPTIONS.invalidCursor] : []),
    ];
    add(400, inputs.join('; '));
    add(401, ERROR_DESCRIPTIONS[401]);
    add(403, access.ownDriverParam === undefined ? ERROR_DESCRIPTIONS[403] : `${ERROR_DESCRIPTIONS[403]}, or ${ERROR_DESCRIPTIONS.ownDriver}`);
    if (signed.length > 0) add(409, ERROR_DESCRIPTIONS.replay);
    if (access.rateLimit !== undefined) add(429, ERROR_DESCRIPTIONS[429], true);
    add(503, ERROR_DESCRIPTIONS[503]);
  }
  if (body) {
    add(413, ERROR_DESCRIPTIONS[413]);
    add(415, ERROR_DESCRIPTIONS[415]);
  }
}
