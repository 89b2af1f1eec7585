// PM2 process file for the driver service. CommonJS, because package.json
// declares "type": "module".
//
//   npm ci && npm run pm2:start      # build, then pm2 start ecosystem.config.cjs --env production
//   npm run pm2:reload               # build, then a rolling restart: one worker at a time, no request lost
//   npm run pm2:stop                 # pm2 stop (npm run pm2:delete forgets the app)
//
// PM2 passes the environment it is started in (DATABASE_URL, REDIS_URL,
// secrets...) to the workers; `pm2 reload --update-env` takes a changed one.
//
// Cluster mode needs an external PostgreSQL (DATABASE_URL or DB_*): the
// embedded database in ./data belongs to one process, so without one this
// file runs a single instance whatever PM2_INSTANCES says.
const path = require('node:path');

const externalDatabase = ['DATABASE_URL', 'DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USERNAME', 'DB_PASSWORD'].some(
  (name) => (process.env[name] ?? '') !== '',
);
const requested = process.env.PM2_INSTANCES || 'max';
// PM2 takes a number or 'max' (all cores); an environment variable is always a string.
const instances = !externalDatabase ? 1 : /^-?\d+$/.test(requested) ? Number(requested) : requested;
if (!externalDatabase && requested !== '1') {
  console.warn('driver-service: no DATABASE_URL or DB_* set, so the embedded database is used and PM2 runs 1 instance');
}

// The service serves on for SHUTDOWN_GRACE_SECONDS (5 s in production) with /health/ready at 503,
// then drains and stops within SHUTDOWN_TIMEOUT_MS; PM2 waits a little longer before SIGKILL.
const shutdownTimeoutMs = Number(process.env.SHUTDOWN_TIMEOUT_MS) || 10000;
const graceSeconds = process.env.SHUTDOWN_GRACE_SECONDS ? Number(process.env.SHUTDOWN_GRACE_SECONDS) || 0 : 5;

module.exports = {
  apps: [
    {
      name: 'driver-service',
      cwd: __dirname,
      script: 'dist/src/main.js',
      // A heap budget: without one V8 sizes the heap by the machine's memory and lets
      // garbage pile up (a worker's live set is about 55 MB at 100,000 drivers).
      node_args: [`--max-old-space-size=${process.env.NODE_MAX_OLD_SPACE_MB || 192}`],
      exec_mode: 'cluster',
      instances,
      // The service sends process.send('ready') once it listens (after migrations);
      // only then does PM2 route connections to it and, in a reload, stop the old worker.
      wait_ready: true,
      listen_timeout: 30000,
      kill_timeout: graceSeconds * 1000 + shutdownTimeoutMs + 5000,
      max_memory_restart: process.env.PM2_MAX_MEMORY || '512M',
      // A worker that keeps failing at start-up (a bad variable, say) is not restarted forever.
      min_uptime: 10000,
      max_restarts: 10,
      exp_backoff_restart_delay: 200,
      out_file: path.join(__dirname, 'logs', 'out.log'),
      error_file: path.join(__dirname, 'logs', 'error.log'),
      merge_logs: true,
      env: {
        NODE_ENV: 'development',
      },
      env_production: {
        NODE_ENV: 'production',
      },
    },
  ],
};
