/** A request's path, without its query string. */
export const pathOf = (url: string): string => url.split('?')[0];

/**
 * What a signed request acts on, `METHOD /path`: what `webhook-target-signature`
 * signs, and the route a replay receipt binds its webhook-id to.
 */
export const requestTarget = (request: { method: string; url: string }): string => `${request.method} ${pathOf(request.url)}`;
