import helmet, { HelmetOptions } from 'helmet';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Helmet's defaults, with a content security policy the Swagger UI at /docs works under. */
export const HELMET_OPTIONS: HelmetOptions = {
  // The Swagger UI needs inline styles and its own scripts; everything else is JSON.
  contentSecurityPolicy: {
    directives: {
      // Operators often open /docs over plain HTTP on an internal network; do not force https sub-requests.
      upgradeInsecureRequests: null,
      defaultSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
      scriptSrc: ["'self'", "'unsafe-inline'"],
    },
  },
};

/**
 * The headers helmet sets for `options`, computed once. With no per-request
 * parts (no CSP nonces, no directive functions) they are the same for every
 * response, and helmet's middleware, run per request, would rebuild them
 * (the CSP string included) every time: measurable on the hot routes.
 * Returns header name (lower case) to value; the caller sets them on every
 * answer.
 */
export function securityHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let outcome: { error?: unknown } | undefined;
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, (error?: unknown) => (outcome = { error }));
  if (!outcome) throw new Error('helmet did not finish synchronously: its headers depend on the request');
  if (outcome.error) throw outcome.error instanceof Error ? outcome.error : new Error('helmet failed', { cause: outcome.error });
  return Object.freeze(headers);
}
