import base from './jest.config.js';

/**
 * The browser suite (`npm run test:browser`): the tracking page in a real
 * headless Chromium (Debian's `chromium`, driven by playwright-core), against
 * the service on the local PostgreSQL and Redis. `scripts/ensure-chromium.sh`
 * installs Chromium first when it is missing. Screenshots go to test-artifacts/.
 * Same ESM transform as jest.config.js; only the `.browser-spec.ts` files under test/browser.
 * @type {import('jest').Config}
 */
export default {
  ...base,
  roots: ['<rootDir>/test/browser'],
  testMatch: ['<rootDir>/test/browser/**/*.browser-spec.ts'],
  testTimeout: 120_000,
  maxWorkers: 1,
};
