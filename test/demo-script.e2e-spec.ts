import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

const STEPS = [
  'generate the secrets',
  'start the webhook receiver',
  'start the service',
  'create a driver (POST /drivers, admin key)',
  'send its location (PATCH /drivers/:id/location, driver token)',
  'go available (PATCH /drivers/:id/status)',
  'order ready 111 m away (POST /events/seller-order-ready, signed as Vendure)',
  'report PICKED_UP (PATCH /deliveries/:id/status, driver token)',
  'report DELIVERED (PATCH /deliveries/:id/status, driver token)',
  'driver available again (GET /drivers/:id)',
  'webhooks received and verified',
  'stop the service (SIGTERM)',
];
const WEBHOOKS = ['delivery.assigned', 'delivery.picked_up', 'delivery.delivered'];

/** scripts/demo.mjs (`npm run demo`): the built service on the embedded database, walked from a new driver to a delivered order. */
describe('scripts/demo.mjs', () => {
  it('runs every step OK, receives every webhook verified, and leaves nothing behind', async () => {
    // The developer's environment stays out: the demo must need nothing from it.
    const { stdout, code } = await run(process.execPath, ['scripts/demo.mjs'], { env: { PATH: process.env.PATH ?? '' } }).then(
      ({ stdout }) => ({ stdout, code: 0 }),
      (error: { code: number; stdout: string }) => ({ stdout: error.stdout, code: error.code }),
    );
    const lines = stdout.split('\n');

    expect({ code, failed: lines.filter((line) => line.startsWith('FAILED')) }).toEqual({ code: 0, failed: [] });
    expect(STEPS.filter((step) => !lines.some((line) => line.startsWith(`OK      ${step}`)))).toEqual([]);
    for (const type of WEBHOOKS) expect(stdout).toContain(`webhook ${type} received, signature verified`);
    expect(stdout).toContain('webhooks received and verified: delivery.assigned, delivery.picked_up, delivery.delivered, in order');
    expect(stdout).toContain('stop the service (SIGTERM): exit code 0');
    expect(stdout).toContain('Demo passed: every step OK.');
    const dataDir = /embedded database in (\S+),/.exec(stdout)?.[1];
    expect(dataDir && existsSync(dataDir)).toBe(false);
  }, 180_000);
});
