import base from './jest.config.js';

/**
 * The fault suite (`npm run test:faults`): the built service under load while
 * its PostgreSQL, Redis, webhook receiver and processes are broken on purpose.
 * Each file starts private servers of its own on free ports (never the shared
 * ones on 5432 and 6379), so files run one after another, in band.
 * Same ESM transform as jest.config.js; only the `.fault-spec.ts` files under test/faults.
 * @type {import('jest').Config}
 */
export default {
  ...base,
  roots: ['<rootDir>/test/faults'],
  testMatch: ['<rootDir>/test/faults/**/*.fault-spec.ts'],
  globalSetup: '<rootDir>/test/faults/support/global-setup.ts',
  testTimeout: 180_000,
  maxWorkers: 1,
};
