import { defineConfig } from 'vitest/config';

// Three projects, so a run starts only what its files need: unit tests need no
// database server; integration tests (which use PostgreSQL even on the
// embedded default, for the cluster and two-node files) start or reuse one;
// browser tests need it only when GATEHOUSE_TEST_DB=postgres. `npm test` runs
// all three; `npm run test:unit` (or `vitest run --project unit`) one.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Child processes rather than worker threads: native modules (argon2) and
    // PGlite's WASM are happier in their own process.
    pool: 'forks',
    // The machines (developers' and CI) have 2 cores.
    maxWorkers: 2,
    reporters: ['default', './test/support/closing-line-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Starts (or reuses, via TEST_DATABASE_URL) the PostgreSQL server.
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'browser', include: ['test/browser/**/*.test.ts'], globalSetup: ['test/support/browser-setup.ts'] },
      },
    ],
  },
});
