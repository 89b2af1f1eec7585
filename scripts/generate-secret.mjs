#!/usr/bin/env node
// Prints a fresh Standard Webhooks secret for VENDURE_WEBHOOK_SECRET or DRIVER_WEBHOOK_SECRET.
import { randomBytes } from 'node:crypto';

process.stdout.write(`whsec_${randomBytes(32).toString('base64')}\n`);
