#!/usr/bin/env node
// Prints a fresh Standard Webhooks secret for VENDURE_WEBHOOK_SECRET or DRIVER_WEBHOOK_SECRET.
import { newWebhookSecret } from './standard-webhook.mjs';

process.stdout.write(`${newWebhookSecret()}\n`);
