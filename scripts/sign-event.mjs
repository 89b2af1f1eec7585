#!/usr/bin/env node
// Sends one Vendure event to the service, signed as Vendure's plugin signs it (Standard Webhooks):
//   node scripts/sign-event.mjs <path> '<JSON body>'
//   e.g. node scripts/sign-event.mjs /events/seller-order-ready '{"sellerOrderId":"SO-1","pickupLat":52.52,"pickupLon":13.405}'
// Reads VENDURE_WEBHOOK_SECRET (required) and DRIVER_SERVICE_URL (default http://localhost:$PORT, PORT default 3001).
// Prints the answer's status and body; exits 0 on a 2xx, 1 otherwise, 2 on bad usage.
import { signedHeaders, WEBHOOK_SECRET } from './standard-webhook.mjs';

const [path, body] = process.argv.slice(2);
const secret = process.env.VENDURE_WEBHOOK_SECRET ?? '';
const base = process.env.DRIVER_SERVICE_URL || `http://localhost:${process.env.PORT || 3001}`;
if (!path?.startsWith('/') || body === undefined) {
  process.stderr.write("usage: node scripts/sign-event.mjs <path> '<JSON body>'\n");
  process.exit(2);
}
if (!WEBHOOK_SECRET.test(secret)) {
  process.stderr.write("Set VENDURE_WEBHOOK_SECRET to the service's secret (whsec_...)\n");
  process.exit(2);
}

// Over the exact string sent: the body is signed and sent as this one string.
const response = await fetch(new URL(path, base), { method: 'POST', headers: signedHeaders(secret, body), body });
process.stdout.write(`${response.status} ${await response.text()}\n`);
process.exit(response.ok ? 0 : 1);
