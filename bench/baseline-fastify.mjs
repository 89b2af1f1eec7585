// @ts-check
/**
 * The raw baseline of the location figure: bare Fastify (the version the
 * service runs on), one hello-world route on the same method and path as
 * the location route, parsing the same JSON body, no auth, no work.
 * `PORT=4100 node bench/baseline-fastify.mjs`; says 'ready' over IPC.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', () => Promise.resolve({ hello: 'world' }));
app.patch('/drivers/:id/location', () => Promise.resolve({ hello: 'world' }));

await app.listen({ port: Number(process.env.PORT ?? 4100), host: '127.0.0.1' });
process.send?.('ready');
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
