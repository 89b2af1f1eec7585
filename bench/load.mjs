// @ts-check
/**
 * The load generator, in its own process: `node bench/load.mjs <spec.json>`
 * runs autocannon with the request stream the spec names (bench/lib/requests.mjs)
 * and prints one JSON line: a Measurement (see bench/lib/load-runner.mjs).
 */
// @ts-expect-error autocannon ships no type declarations
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { answerCounts, buildRequests } from './lib/requests.mjs';
import { LatencyHistogram } from './lib/stats.mjs';

/** @type {import('./lib/requests.mjs').LoadSpec} */
const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));

const instance = autocannon({
  url: spec.url,
  connections: spec.connections,
  ...(spec.amount ? { amount: spec.amount } : { duration: spec.seconds }),
  timeout: 30,
  requests: /** @type {any} */ (buildRequests(spec)),
});
// autocannon's own histogram keeps whole milliseconds; this one keeps 2 % resolution below 1 ms too.
const latencies = new LatencyHistogram();
instance.on(
  'response',
  (/** @type {unknown} */ _client, /** @type {number} */ _status, /** @type {number} */ _bytes, /** @type {number} */ ms) =>
    latencies.record(ms),
);
const result = await instance;

const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]));
process.stdout.write(
  `${JSON.stringify({
    count: result.requests.total,
    seconds: result.duration,
    rps: result.requests.total / result.duration,
    p50: latencies.percentile(50),
    p99: latencies.percentile(99),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    statusCodes,
    noDriver: answerCounts.noDriver,
  })}\n`,
);
