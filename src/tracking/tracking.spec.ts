import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../config/load-config.js';
import { etaDestination, StraightLineEta } from '../eta/eta.js';
import { sseEvent } from './tracking-feed.js';
import { lastEventId, tileSource } from './tracking.routes.js';
import { isTrackingToken, randomTrackingToken, SignedLinkTokens } from './tracking-token.js';

const SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;

describe('tracking, pure parts', () => {
  it('tokens: 256 random bits, or for a signed request the same for the same message and delivery only', () => {
    const token = randomTrackingToken();
    expect(isTrackingToken(token)).toBe(true);
    expect(randomTrackingToken()).not.toBe(token);
    const signed = new SignedLinkTokens(SECRET);
    const a = signed.tokenFor('msg_1', 'd1');
    expect(isTrackingToken(a)).toBe(true);
    expect(signed.tokenFor('msg_1', 'd1')).toBe(a);
    expect(signed.tokenFor('msg_2', 'd1')).not.toBe(a);
    expect(signed.tokenFor('msg_1', 'd2')).not.toBe(a);
    expect(new SignedLinkTokens(`whsec_${Buffer.alloc(32, 4).toString('base64')}`).tokenFor('msg_1', 'd1')).not.toBe(a);
    for (const bad of ['', 'trk_', `${token}x`, token.replace('trk_', 'drv_'), `trk_${'+'.repeat(43)}`])
      expect(isTrackingToken(bad)).toBe(false);
  });

  it('Last-Event-ID: a seq, or 0 for anything else', () => {
    expect(lastEventId('42')).toBe(42);
    expect(lastEventId(' 7 ')).toBe(7);
    for (const bad of [undefined, '', 'abc', '-1', '1.5', '99999999999', '2147483648']) expect(lastEventId(bad)).toBe(0);
  });

  it("the page's CSP names the tile server's origin, with {s} subdomains as a wildcard", () => {
    expect(tileSource('https://tile.openstreetmap.org/{z}/{x}/{y}.png')).toBe('https://tile.openstreetmap.org');
    expect(tileSource('https://{s}.tile.example.com:8443/{z}/{x}/{y}.png')).toBe('https://*.tile.example.com:8443');
    expect(tileSource('')).toBeNull();
  });

  it('SSE events are id, event and one data line, ended by a blank line', () => {
    expect(sseEvent('status', 12, { status: 'ASSIGNED', note: 'a\nb' })).toBe(
      'id: 12\nevent: status\ndata: {"status":"ASSIGNED","note":"a\\nb"}\n\n',
    );
  });

  it('straight-line ETAs: distance at the vehicle type speed, rounded up; the pickup while ASSIGNED, the drop-off while PICKED_UP', async () => {
    const eta = new StraightLineEta(loadConfig({ ETA_SPEEDS_KMH: 'bicycle=18,default=36' }));
    // 0.01° of latitude is 1,111.95 m: 222.4 s at 18 km/h (5 m/s), 111.2 s at 36 km/h.
    const trip = { from: { lat: 52, lon: 13 }, to: { lat: 52.01, lon: 13 } };
    expect(
      await eta.etaSeconds([
        { ...trip, vehicleType: 'Bicycle' },
        { ...trip, vehicleType: 'hovercraft' },
        { ...trip, vehicleType: null },
      ]),
    ).toEqual([223, 112, 112]);
    const pickup = { lat: 1, lon: 1 };
    const dropoff = { lat: 2, lon: 2 };
    expect(etaDestination('ASSIGNED', pickup, dropoff)).toBe(pickup);
    expect(etaDestination('PICKED_UP', pickup, dropoff)).toBe(dropoff);
    expect(etaDestination('PICKED_UP', pickup, null)).toBeNull();
    for (const status of ['PENDING', 'OFFERED', 'DELIVERED', 'CANCELLED']) expect(etaDestination(status, pickup, dropoff)).toBeNull();
  });
});
