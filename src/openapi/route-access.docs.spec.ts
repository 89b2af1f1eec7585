import { describe, expect, it } from '@jest/globals';
import type { OpenAPIObject, OperationObject } from '@nestjs/swagger';
import { documentRouteAccess, RouteWithAccess } from './route-access.docs.js';

const documentWith = (path: string, method: string, operation: Partial<OperationObject> = {}) =>
  ({ openapi: '3.1.0', info: { title: 't', version: '1' }, paths: { [path]: { [method]: { responses: { 200: { description: '' } }, ...operation } } } }) as OpenAPIObject;

describe(documentRouteAccess.name, () => {
  const sut = documentRouteAccess;
  const operationOf = (document: OpenAPIObject, path: string, method: string) =>
    (document.paths[path] as Record<string, OperationObject>)[method];

  it('gives a public route no security and none of the authentication errors', () => {
    const document = documentWith('/health', 'get');
    sut(document, [{ method: 'GET', path: '/health', access: 'public' }]);
    const operation = operationOf(document, '/health', 'get');
    expect(operation.security).toEqual([]);
    expect(Object.keys(operation.responses)).toEqual(['200']);
  });

  it('lists each accepted caller as an alternative, with the signature headers optional beside a bearer token', () => {
    const document = documentWith('/drivers/{id}', 'patch');
    const route: RouteWithAccess = { method: 'PATCH', path: '/drivers/:id', access: { callers: ['admin', 'driver-backend'], ownDriverParam: 'id' } };
    sut(document, [route]);
    const operation = operationOf(document, '/drivers/{id}', 'patch');
    expect(operation.security).toEqual([{ adminKey: [] }, { driverBackendSignature: [] }]);
    expect(operation.parameters).toEqual([
      expect.objectContaining({ name: 'webhook-id', in: 'header', required: false }),
      expect.objectContaining({ name: 'webhook-timestamp', in: 'header', required: false }),
      expect.objectContaining({ name: 'webhook-target-signature', in: 'header', required: false }),
    ]);
    expect(Object.keys(operation.responses)).toEqual(['200', '400', '401', '403', '409', '413', '415', '503']);
    expect((operation.responses[403] as { description: string }).description).toContain('a driver token on another driver');
    expect((operation.responses[400] as { description: string }).description).toContain('INVALID_JSON');
  });

  it('requires the signature headers where only signed callers are accepted, and adds the 429 of a route with a rate limit', () => {
    const document = documentWith('/events/x', 'post');
    sut(document, [{ method: 'POST', path: '/events/x', access: { callers: ['vendure'], rateLimit: 'orderReady' } }]);
    const operation = operationOf(document, '/events/x', 'post');
    expect(operation.security).toEqual([{ vendureSignature: [] }]);
    // webhook-target-signature stays optional unless SIGNED_TARGET=required, which the document cannot know.
    expect(operation.parameters?.map((p) => 'required' in p && p.required)).toEqual([true, true, false]);
    expect(operation.responses[429]).toMatchObject({ headers: { 'Retry-After': expect.anything() } });
  });

  it("keeps a route's own description of a shared code, and appends the shared codes it does not name", () => {
    const document = documentWith('/things', 'post', {
      responses: {
        200: { description: '' },
        403: { description: 'FORBIDDEN: only on Tuesdays' },
        409: { description: 'THING_TAKEN' },
      },
    });
    sut(document, [{ method: 'POST', path: '/things', access: { callers: ['admin', 'vendure'] } }]);
    const responses = operationOf(document, '/things', 'post').responses as Record<string, { description: string }>;
    expect(responses[403].description).toBe('FORBIDDEN: only on Tuesdays');
    expect(responses[409].description).toMatch(/^THING_TAKEN; WEBHOOK_ID_REUSED: .*WEBHOOK_IN_PROGRESS/);
  });

  it('adds no body errors to a GET', () => {
    const document = documentWith('/things', 'get', { parameters: [{ name: 'cursor', in: 'query', schema: { type: 'string' } }] });
    sut(document, [{ method: 'GET', path: '/things', access: { callers: ['admin'] } }]);
    const responses = operationOf(document, '/things', 'get').responses as Record<string, { description: string }>;
    expect(Object.keys(responses)).toEqual(['200', '400', '401', '403', '503']);
    expect(responses[400].description).toContain('INVALID_CURSOR');
  });
});
