// Values handed from test/support/global-setup.ts to test files via
// vitest's project.provide() / inject().
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL (superuser, `postgres` database) of the test PostgreSQL server. */
    postgresAdminUrl: string;
    /** A closed, migrated PGlite directory (test/support/embedded-template.ts), copied by freshDatabase('embedded'). */
    embeddedTemplate: string;
  }
}
