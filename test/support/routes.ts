import { RequestMethod } from '@nestjs/common';
import type { Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ALLOWED_CALLERS } from '../../src/auth/auth.decorators.js';
import type { CallerKind } from '../../src/auth/principal.js';
import { LOCATION_ROUTE } from '../../src/availability/location.route.js';
import { OSMAND_ROUTES } from '../../src/availability/osmand.route.js';
import { ORDER_READY_ROUTE } from '../../src/events/order-ready.route.js';
import { TRACKING_ROUTES } from '../../src/tracking/tracking.routes.js';

export interface ServedRoute {
  method: string;
  /** The route template, as `/drivers/:id`. */
  path: string;
  /** Who may call it, as the auth guard reads it: 'public', or the caller kinds (admin only when undecorated). */
  callers: readonly CallerKind[] | 'public';
}

/**
 * Every route the application serves, read from the controllers' own
 * metadata, so a new route is never missed, and the routes Fastify serves
 * itself (location updates, ready orders, OsmAnd, tracking), from their own declarations.
 */
export function servedRoutes(app: NestFastifyApplication): ServedRoute[] {
  const routes: ServedRoute[] = [];
  const modules = (
    app as unknown as { container: { getModules(): Map<string, { controllers: Map<unknown, { metatype: Type }> }> } }
  ).container.getModules();
  for (const module of modules.values()) {
    for (const { metatype } of module.controllers.values()) {
      const base = String(Reflect.getMetadata(PATH_METADATA, metatype)).replace(/^\/?/, '/');
      for (const name of Object.getOwnPropertyNames(metatype.prototype)) {
        const handler = metatype.prototype[name];
        const method = Reflect.getMetadata(METHOD_METADATA, handler);
        if (method === undefined) continue;
        const path = String(Reflect.getMetadata(PATH_METADATA, handler));
        const callers = Reflect.getMetadata(ALLOWED_CALLERS, handler) ?? Reflect.getMetadata(ALLOWED_CALLERS, metatype) ?? ['admin'];
        routes.push({ method: RequestMethod[method], path: path === '/' ? base : `${base}/${path}`, callers });
      }
    }
  }
  routes.push({ method: LOCATION_ROUTE.method, path: LOCATION_ROUTE.url, callers: LOCATION_ROUTE.access.callers });
  routes.push({ method: ORDER_READY_ROUTE.method, path: ORDER_READY_ROUTE.url, callers: ORDER_READY_ROUTE.access.callers });
  // The driver's token comes in the query or the body: to the guard these are public.
  for (const route of OSMAND_ROUTES) routes.push({ method: route.method, path: route.url, callers: 'public' });
  // A tracking link's token is a path parameter: to the guard these are public too.
  for (const route of TRACKING_ROUTES) routes.push({ method: route.method, path: route.url, callers: 'public' });
  return routes;
}
