#!/usr/bin/env node
/**
 * Writes the OpenAPI document the service serves at /docs-json to
 * openapi/openapi.json, from the built application (`npm run build` first;
 * `npm run openapi` does both, then regenerates the typed client). It needs
 * no database, Redis or listening server: Nest's preview mode resolves the
 * module graph and the controllers' metadata, and instantiates nothing.
 * test/openapi-client.e2e-spec.ts checks the file against what a running
 * service serves.
 *
 * `--check`: writes nothing, and fails when the file is not current.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const OUTPUT = 'openapi/openapi.json';
const check = process.argv.includes('--check');

if (!existsSync('dist/src/openapi/openapi-document.js')) {
  process.stderr.write('dist/ is missing or old: run `npm run build` first (`npm run openapi` does).\n');
  process.exit(1);
}
const { AppModule } = await import('../dist/src/app.module.js');
const { loadConfig } = await import('../dist/src/config/load-config.js');
const { buildOpenApiDocument } = await import('../dist/src/openapi/openapi-document.js');

// The defaults: nothing in the document depends on the environment.
const app = await NestFactory.create(AppModule.register(loadConfig({})), new FastifyAdapter(), {
  preview: true,
  logger: false,
  abortOnError: false,
});
const text = `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`;
await app.close();

const current = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : null;
if (check) {
  if (current !== text) {
    process.stderr.write(`${OUTPUT} is not the document the service serves: run \`npm run openapi\`.\n`);
    process.exit(1);
  }
  process.stdout.write(`${OUTPUT} is current\n`);
} else {
  mkdirSync(dirname(OUTPUT), { recursive: true });
  writeFileSync(OUTPUT, text);
  process.stdout.write(`${OUTPUT} ${current === text ? 'unchanged' : 'written'}\n`);
}
