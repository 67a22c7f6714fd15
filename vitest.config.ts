import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts (or reuses, via TEST_DATABASE_URL) the PostgreSQL server tests use.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes rather than worker threads: native modules (argon2) and
    // PGlite's WASM are happier in their own process.
    pool: 'forks',
    // The machines (developers' and CI) have 2 cores.
    maxWorkers: 2,
    reporters: ['default', './test/support/closing-line-reporter.ts'],
  },
});
