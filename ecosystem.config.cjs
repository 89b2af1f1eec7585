// PM2 process file for the driver service. CommonJS, because package.json
// declares "type": "module".
//
//   npm ci && npm run build
//   pm2 start ecosystem.config.cjs --env production
//
// Cluster mode needs an external PostgreSQL (DATABASE_URL or DB_*): the
// embedded database in ./data belongs to one process. Set PM2_INSTANCES=1 to
// run a single process on it.
const path = require('node:path');

const requested = process.env.PM2_INSTANCES || 'max';
// PM2 takes a number or 'max'; an environment variable is always a string.
const instances = /^-?\d+$/.test(requested) ? Number(requested) : requested;

module.exports = {
  apps: [
    {
      name: 'driver-service',
      cwd: __dirname,
      script: 'dist/src/main.js',
      exec_mode: 'cluster',
      instances,
      // The service sends process.send('ready') once it listens (after migrations).
      wait_ready: true,
      listen_timeout: 15000,
      // Longer than SHUTDOWN_TIMEOUT_MS (10000 by default), so requests in flight can finish.
      kill_timeout: 15000,
      max_memory_restart: '512M',
      out_file: path.join(__dirname, 'logs', 'out.log'),
      error_file: path.join(__dirname, 'logs', 'error.log'),
      merge_logs: true,
      env_production: {
        NODE_ENV: 'production',
      },
    },
  ],
};
