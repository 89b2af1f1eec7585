// @ts-check
/**
 * Customers following their deliveries during a soak: every second, links to
 * a few live deliveries are made and streams opened on them, each held for a
 * few seconds and then dropped, as a browser tab is closed. Counts what the
 * streams received, and refusals and errors.
 */
import http from 'node:http';

/**
 * @param {{ url: string, adminKey: string, sql: import('pg').Pool, concurrent?: number }} options
 * @returns {{ stop: () => void, stats: { opened: number, events: number, refused: number, errors: number } }}
 */
export function watchDeliveries({ url, adminKey, sql, concurrent = 20 }) {
  const stats = { opened: 0, events: 0, refused: 0, errors: 0 };
  /** @type {Set<http.ClientRequest>} */
  const open = new Set();
  let stopped = false;

  /** @param {string} token */
  const follow = (token) => {
    const request = http.get(`${url}/track/${token}/events`, { agent: false }, (response) => {
      if (response.statusCode === 429) stats.refused++;
      else if (response.statusCode !== 200) stats.errors++;
      else stats.opened++;
      response.setEncoding('utf8');
      response.on(
        'data',
        (/** @type {string} */ chunk) => (stats.events += chunk.split('\n\n').filter((block) => block.includes('data: ')).length),
      );
      response.on('error', () => undefined);
    });
    request.on('error', () => undefined);
    open.add(request);
    setTimeout(
      () => {
        request.destroy();
        open.delete(request);
      },
      2_000 + Math.random() * 6_000,
    ).unref();
  };

  const tick = async () => {
    if (stopped || open.size >= concurrent) return;
    const { rows } = await sql.query(`SELECT id FROM deliveries WHERE status IN ('ASSIGNED', 'PICKED_UP') ORDER BY random() LIMIT $1`, [
      Math.min(5, concurrent - open.size),
    ]);
    for (const { id } of rows) {
      const response = await fetch(`${url}/deliveries/${id}/tracking-links`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        body: '{}',
      });
      if (response.status !== 201) {
        // The delivery may have ended an instant ago: only a 5xx is an error.
        if (response.status >= 500) stats.errors++;
        continue;
      }
      follow(/** @type {{ token: string }} */ (await response.json()).token);
    }
  };
  const timer = setInterval(() => void tick().catch(() => stats.errors++), 1_000);

  return {
    stats,
    stop: () => {
      stopped = true;
      clearInterval(timer);
      for (const request of open) request.destroy();
      open.clear();
    },
  };
}
