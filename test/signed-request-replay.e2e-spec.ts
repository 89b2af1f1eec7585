import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import pg from 'pg';
import { DomainError } from '../src/common/domain-error.js';
import { SignedRequestReplayService } from '../src/signed-requests/signed-request-replay.service.js';
import { WebhookReceiptsRepository } from '../src/signed-requests/webhook-receipts.repository.js';
import { createTestDatabase } from './support/databases.js';
import { startTestApp, TestApp } from './support/test-app.js';

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  throw new Error('expected a DomainError');
};

/** The route the messages of these tests are sent to. */
const ROUTE = 'POST /events/seller-order-ready';

describe(SignedRequestReplayService.name, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let t: TestApp;
  let sut: SignedRequestReplayService;
  let sql: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('replay');
    t = await startTestApp({ DATABASE_URL: database.url });
    sut = t.app.get(SignedRequestReplayService);
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
  });

  afterAll(async () => {
    await sql?.end();
    await t?.close();
    await database?.drop();
  });

  it('lets the first request through and answers a same-body repeat with the stored answer', async () => {
    const body = Buffer.from('{"sellerOrderId":"SO-1"}');
    expect(await sut.begin('vendure', 'msg_a', body, ROUTE)).toEqual({ kind: 'first' });
    await sut.complete('vendure', 'msg_a', 200, { assigned: true, deliveryId: 'd-1' });
    for (let i = 0; i < 3; i++) {
      expect(await sut.begin('vendure', 'msg_a', Buffer.from(body), ROUTE)).toEqual({
        kind: 'replay',
        statusCode: 200,
        response: { assigned: true, deliveryId: 'd-1' },
      });
    }
  });

  it('refuses the same id with another body (409 WEBHOOK_ID_REUSED) and keeps the original receipt', async () => {
    await sut.begin('vendure', 'msg_b', Buffer.from('{"a":1}'), ROUTE);
    await sut.complete('vendure', 'msg_b', 200, { ok: 1 });
    expect(await codeOf(sut.begin('vendure', 'msg_b', Buffer.from('{"a":2}'), ROUTE))).toBe('WEBHOOK_ID_REUSED');
    expect(await sut.begin('vendure', 'msg_b', Buffer.from('{"a":1}'), ROUTE)).toMatchObject({ kind: 'replay', response: { ok: 1 } });
  });

  it('refuses an answered message on another route: a ready event replayed on seller-order-cancelled gets 409, not the ready answer', async () => {
    const body = Buffer.from('{"sellerOrderId":"SO-9"}');
    await sut.begin('vendure', 'msg_route', body, 'POST /events/seller-order-ready');
    await sut.complete('vendure', 'msg_route', 200, { assigned: false });
    expect(await codeOf(sut.begin('vendure', 'msg_route', body, 'POST /events/seller-order-cancelled'))).toBe('WEBHOOK_ID_REUSED');
  });

  it('keeps ids of different senders apart', async () => {
    await sut.begin('vendure', 'msg_c', Buffer.from('x'), ROUTE);
    expect(await sut.begin('driver-backend', 'msg_c', Buffer.from('y'), ROUTE)).toEqual({ kind: 'first' });
  });

  it('makes a concurrent repeat wait for the first answer instead of running twice', async () => {
    const body = Buffer.from('{"b":1}');
    expect(await sut.begin('vendure', 'msg_d', body, ROUTE)).toEqual({ kind: 'first' });
    const repeat = sut.begin('vendure', 'msg_d', body, ROUTE);
    await sut.complete('vendure', 'msg_d', 201, { created: true });
    expect(await repeat).toEqual({ kind: 'replay', statusCode: 201, response: { created: true } });
  });

  it('after a release (server-side failure) the retry is processed afresh', async () => {
    const body = Buffer.from('{"c":1}');
    await sut.begin('vendure', 'msg_e', body, ROUTE);
    await sut.release('vendure', 'msg_e');
    expect(await sut.begin('vendure', 'msg_e', body, ROUTE)).toEqual({ kind: 'first' });
  });

  it('of fifty simultaneous copies exactly one is processed', async () => {
    const body = Buffer.from('{"d":1}');
    const decisions = Array.from({ length: 50 }, () => sut.begin('vendure', 'msg_f', body, ROUTE));
    const first = await Promise.race(decisions.map((d, i) => d.then((v) => (v.kind === 'first' ? i : -1))));
    expect(first).toBeGreaterThanOrEqual(0);
    await sut.complete('vendure', 'msg_f', 200, { n: 1 });
    const kinds = (await Promise.all(decisions)).map((d) => d.kind);
    expect(kinds.filter((k) => k === 'first')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'replay')).toHaveLength(49);
  });

  it('of copies recorded in one statement, only the first is processed', async () => {
    const body = Buffer.from('{"i":1}');
    // The first sighting is written at once; the copies, arriving while it is written, go together after it.
    const opener = sut.begin('vendure', 'msg_i0', body, ROUTE);
    const decisions = Array.from({ length: 10 }, () => sut.begin('vendure', 'msg_i', body, ROUTE));
    await opener;
    const first = await Promise.race(decisions.map((d, i) => d.then((v) => (v.kind === 'first' ? i : -1))));
    expect(first).toBe(0);
    await sut.complete('vendure', 'msg_i', 200, { n: 2 });
    const kinds = (await Promise.all(decisions)).map((d) => d.kind);
    expect(kinds).toEqual(['first', ...Array(9).fill('replay')]);
  });

  it('stores answers jsonb would refuse (NUL, lone surrogates, in keys and values), the rest exactly', async () => {
    const body = Buffer.from('{"j":1}');
    await sut.begin('vendure', 'msg_j', body, ROUTE);
    const answer = {
      statusCode: 400,
      message: [
        'property a\u0000b should not exist',
        'property \ud800x should not exist',
        'a pair \ud83d\ude9a stays',
        'a\\u0000 text stays',
      ],
      ['k\udc00']: { ['n\u0000']: '\udbff' },
      at: new Date('2026-11-21T10:00:00.123Z'),
      list: [1, null, true, 'plain'],
    };
    await sut.complete('vendure', 'msg_j', 400, answer);
    expect(await sut.begin('vendure', 'msg_j', body, ROUTE)).toEqual({
      kind: 'replay',
      statusCode: 400,
      response: {
        statusCode: 400,
        message: [
          'property a\\u0000b should not exist',
          'property \ufffdx should not exist',
          'a pair \ud83d\ude9a stays',
          'a\\u0000 text stays',
        ],
        ['k\ufffd']: { ['n\\u0000']: '\ufffd' },
        at: '2026-11-21T10:00:00.123Z',
        list: [1, null, true, 'plain'],
      },
    });
  });

  it('lets a retry take over a first attempt that never answered (its process died)', async () => {
    const body = Buffer.from('{"e":1}');
    expect(await sut.begin('vendure', 'msg_h', body, ROUTE)).toEqual({ kind: 'first' });
    await sql.query(`UPDATE webhook_receipts SET created_at = now() - interval '31 seconds' WHERE webhook_id = 'msg_h'`);
    expect(await sut.begin('vendure', 'msg_h', body, ROUTE)).toEqual({ kind: 'first' });
  });

  it('stores only a hash of the body', async () => {
    await sut.begin('driver-backend', 'msg_g', Buffer.from('{"secretish":"value"}'), ROUTE);
    const { rows } = await sql.query(`SELECT * FROM webhook_receipts WHERE webhook_id = 'msg_g'`);
    expect(rows[0].body_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows[0])).not.toContain('secretish');
  });

  describe('once: a signed request that changes something runs once per webhook-id', () => {
    const signed = (messageId: string) => ({ kind: 'driver-backend' as const, messageId });
    const patch = (body: string, url = '/drivers/a/location') => ({ method: 'PATCH', url, rawBody: Buffer.from(body) });

    it('runs it, and answers a repeat with the stored answer without running it', async () => {
      const handle = jest.fn(() => Promise.resolve({ status: 'OFFLINE', online: true }));
      expect(await sut.once(signed('msg_once_1'), patch('{"lat":1}'), 200, handle)).toEqual({ status: 'OFFLINE', online: true });
      expect(await sut.once(signed('msg_once_1'), patch('{"lat":1}'), 200, handle)).toEqual({ status: 'OFFLINE', online: true });
      expect(handle).toHaveBeenCalledTimes(1);
    });

    it('runs reads, other callers and unsigned requests every time, storing nothing', async () => {
      const handle = jest.fn(() => Promise.resolve('ran'));
      await sut.once(signed('msg_once_get'), { method: 'GET', url: '/drivers/a' }, 200, handle);
      await sut.once({ kind: 'admin' }, patch('{}'), 200, handle);
      await sut.once(undefined, patch('{}'), 200, handle);
      expect(handle).toHaveBeenCalledTimes(3);
      expect((await sql.query(`SELECT 1 FROM webhook_receipts WHERE webhook_id = 'msg_once_get'`)).rowCount).toBe(0);
    });

    it('releases the id when the answer cannot be stored, so the retry runs again', async () => {
      const complete = jest.spyOn(t.app.get(WebhookReceiptsRepository), 'complete').mockRejectedValueOnce(new Error('connection lost'));
      const handle = jest.fn(() => Promise.resolve({ ok: true }));
      try {
        await expect(sut.once(signed('msg_once_lost'), patch('{}'), 200, handle)).rejects.toThrow('connection lost');
      } finally {
        complete.mockRestore();
      }
      // Kept, released: its route and body still bind the id.
      const { rows } = await sql.query(`SELECT released, status_code FROM webhook_receipts WHERE webhook_id = 'msg_once_lost'`);
      expect(rows).toEqual([{ released: true, status_code: null }]);
      expect(await sut.once(signed('msg_once_lost'), patch('{}'), 200, handle)).toEqual({ ok: true });
      expect(handle).toHaveBeenCalledTimes(2);
    });

    it('binds a message to the route it was first seen on: refused elsewhere after a 429, retried where it was sent', async () => {
      const handle = jest.fn(() => Promise.reject(new DomainError('RATE_LIMITED', 'Too many location updates')));
      await expect(sut.once(signed('msg_aim'), patch('{"lat":1}', '/drivers/a/location'), 200, handle)).rejects.toThrow('Too many');
      const moved = jest.fn(() => Promise.resolve({ moved: true }));
      expect(await codeOf(sut.once(signed('msg_aim'), patch('{"lat":1}', '/drivers/b/location'), 200, moved))).toBe('WEBHOOK_ID_REUSED');
      expect(moved).not.toHaveBeenCalled();
      expect(await sut.once(signed('msg_aim'), patch('{"lat":1}', '/drivers/a/location'), 200, moved)).toEqual({ moved: true });
      // Answered now: still refused on the other route, replayed on its own.
      expect(await codeOf(sut.once(signed('msg_aim'), patch('{"lat":1}', '/drivers/b/location'), 200, moved))).toBe('WEBHOOK_ID_REUSED');
      expect(await sut.once(signed('msg_aim'), patch('{"lat":1}', '/drivers/a/location'), 200, moved)).toEqual({ moved: true });
      expect(moved).toHaveBeenCalledTimes(1);
    });
  });
});
