import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { freePort } from './support/driver-service';

const run = promisify(execFile);
const PACKAGE_DIR = path.join(__dirname, '../..');

/** A fresh Vendure project's server: the plugin from its tarball, the options a shop would give it. */
const SERVER = `
import { bootstrap, mergeConfig, defaultConfig } from '@vendure/core';
import { DriverIntegrationPlugin, WEBHOOK_PATH } from 'vendure-plugin-driver-service';

const port = Number(process.env.PORT);
const config = mergeConfig(defaultConfig, {
    apiOptions: { port },
    authOptions: { tokenMethod: 'bearer', superadminCredentials: { identifier: 'admin', password: 'not-a-default-password' } },
    dbConnectionOptions: { type: 'sqljs', synchronize: true, autoSave: false, logging: false },
    plugins: [
        DriverIntegrationPlugin.init({
            serviceUrl: 'http://127.0.0.1:9',
            webhookSecret: 'whsec_' + Buffer.alloc(32, 7).toString('base64'),
        }),
    ],
});

async function main() {
    const app = await bootstrap(config);
    const types = await fetch('http://127.0.0.1:' + port + '/shop-api', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __type(name: "DriverDelivery") { fields { name } } }' }),
    }).then(r => r.json());
    const unsigned = await fetch('http://127.0.0.1:' + port + WEBHOOK_PATH, { method: 'POST', body: '{}' });
    console.log('RESULT ' + JSON.stringify({ fields: types.data.__type.fields.map((f: { name: string }) => f.name), unsigned: unsigned.status }));
    await app.close();
}
main().catch(error => {
    console.error(error);
    process.exit(1);
});
`;

describe('the npm package', () => {
    let workDir = '';
    after(async () => {
        if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    it('packs into a tarball that a fresh Vendure project installs, compiles against and boots with', { timeout: 600_000 }, async () => {
        workDir = await mkdtemp(path.join(tmpdir(), 'driver-plugin-pack-'));
        await run('npm', ['pack', '--pack-destination', workDir], { cwd: PACKAGE_DIR });
        const tarball = (await readdir(workDir)).find(name => name.endsWith('.tgz'));
        assert.ok(tarball, 'npm pack wrote no tarball');
        const { stdout: listing } = await run('tar', ['-tzf', path.join(workDir, tarball)]);
        const files = listing.split('\n').filter(Boolean);
        for (const needed of ['package/package.json', 'package/README.md', 'package/dist/index.js', 'package/dist/index.d.ts']) assert.ok(files.includes(needed), `${needed} not packed`);
        assert.deepEqual(files.filter(f => !/^package\/(package\.json|README\.md|LICENSE|dist\/.*)$/.test(f)), [], 'only the build, README and licence are packed');

        const own = JSON.parse(await readFile(path.join(PACKAGE_DIR, 'package.json'), 'utf8'));
        const installed = (name: string) => require(path.join(PACKAGE_DIR, 'node_modules', name, 'package.json')).version as string;
        const app = path.join(workDir, 'shop');
        await run('mkdir', ['-p', path.join(app, 'src')]);
        await writeFile(
            path.join(app, 'package.json'),
            JSON.stringify({
                name: 'fresh-shop',
                private: true,
                dependencies: {
                    '@vendure/core': installed('@vendure/core'),
                    'sql.js': installed('sql.js'),
                    'vendure-plugin-driver-service': `file:../${tarball}`,
                },
                devDependencies: { typescript: own.devDependencies.typescript, '@types/node': own.devDependencies['@types/node'] },
            }),
        );
        await writeFile(
            path.join(app, 'tsconfig.json'),
            JSON.stringify({
                compilerOptions: {
                    target: 'ES2022',
                    module: 'commonjs',
                    moduleResolution: 'node',
                    strict: true,
                    esModuleInterop: true,
                    experimentalDecorators: true,
                    emitDecoratorMetadata: true,
                    outDir: 'dist',
                    rootDir: 'src',
                    types: ['node'],
                    // As a new Vendure project has it: Vendure's own declarations need it.
                    skipLibCheck: true,
                },
                include: ['src'],
            }),
        );
        await writeFile(path.join(app, 'src/index.ts'), SERVER);

        await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, maxBuffer: 16 * 1024 * 1024 });
        // The shop's code is checked against the plugin's declarations, as a shop's build would.
        await run(path.join(app, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: app }).catch((error: { stdout?: string }) => {
            throw new Error(`tsc failed in the fresh project:\n${error.stdout}`);
        });
        const { stdout } = await run(process.execPath, ['dist/index.js'], {
            cwd: app,
            env: { ...process.env, PORT: String(await freePort()), VENDURE_DISABLE_TELEMETRY: 'true' },
            maxBuffer: 16 * 1024 * 1024,
        });
        const result = JSON.parse(stdout.split('\n').find(line => line.startsWith('RESULT '))!.slice('RESULT '.length));
        assert.deepEqual(result, { fields: ['status', 'driverName', 'etaSeconds', 'trackingUrl', 'updatedAt'], unsigned: 401 });
    });
});
