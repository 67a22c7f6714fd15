// Values handed from test/support/global-setup.ts to test files via
// vitest's project.provide() / inject().
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL (superuser, `postgres` database) of the test PostgreSQL server. */
    postgresAdminUrl: string;
  }
}
