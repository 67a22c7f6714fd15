// Fresh, isolated databases for tests.
//
// Integration tests run against either backend the app supports: the embedded
// one (PGlite, file-based, in the data dir) or a real PostgreSQL server. Pick
// with GATEHOUSE_TEST_DB=embedded|postgres; freshDatabase() gives each test
// (file) its own database plus its own data dir, and a cleanup that removes
// both.
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

export type TestDbKind = 'embedded' | 'postgres';

export interface TestDatabase {
  kind: TestDbKind;
  /** postgres: URL of the fresh database; embedded: undefined. */
  databaseUrl: string | undefined;
  /**
   * A fresh empty directory for the app's data dir. The app keeps its master
   * key and dev certificates there even on PostgreSQL, and the embedded
   * database itself on 'embedded'.
   */
  dataDir: string;
  /** Drops the database (if any) and removes dataDir. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** The backend integration tests should use, from GATEHOUSE_TEST_DB. */
export function integrationDbKind(): TestDbKind {
  const value = process.env.GATEHOUSE_TEST_DB;
  if (value === undefined || value === '' || value === 'embedded') return 'embedded';
  if (value === 'postgres') return 'postgres';
  throw new Error(
    `GATEHOUSE_TEST_DB must be 'embedded' or 'postgres', got ${JSON.stringify(value)}`,
  );
}

/**
 * Admin (superuser) URL of the test PostgreSQL server: what global-setup
 * provided, else TEST_DATABASE_URL.
 */
export function postgresAdminUrl(): string {
  let provided: string | undefined;
  try {
    provided = inject('postgresAdminUrl');
  } catch {
    // Not inside a vitest worker (or no globalSetup): fall back to the env.
  }
  const url = provided || process.env.TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'No PostgreSQL server for tests: run under vitest with test/support/global-setup.ts, ' +
        'or set TEST_DATABASE_URL to an admin URL (postgres://user@host:port/postgres)',
    );
  }
  return url;
}

async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: postgresAdminUrl(),
    application_name: 'gatehouse-test-databases',
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface FreshDatabaseOptions {
  /**
   * An empty database, not yet migrated, for tests of migrations and first
   * starts. Otherwise an embedded database starts as a copy of the run's
   * migrated template (./embedded-template.ts); PostgreSQL databases are always
   * created empty (CREATE DATABASE is quick there).
   */
  empty?: boolean;
}

/** The migrated PGlite directory global setup made, if this run has one. */
function embeddedTemplate(): string | undefined {
  try {
    return inject('embeddedTemplate');
  } catch {
    return undefined; // not inside a vitest worker
  }
}

export async function freshDatabase(kind: TestDbKind, options: FreshDatabaseOptions = {}): Promise<TestDatabase> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-test-data-'));
  const removeDataDir = () => rm(dataDir, { recursive: true, force: true });

  if (kind === 'embedded') {
    const template = options.empty ? undefined : embeddedTemplate();
    // The embedded database lives in <dataDir>/pglite (src/db/embedded.ts).
    if (template) await cp(template, path.join(dataDir, 'pglite'), { recursive: true });
    let cleaned = false;
    return {
      kind,
      databaseUrl: undefined,
      dataDir,
      async cleanup() {
        if (cleaned) return;
        cleaned = true;
        await removeDataDir();
      },
    };
  }

  if (kind !== 'postgres') {
    await removeDataDir();
    throw new Error(`unknown test database kind: ${JSON.stringify(kind)}`);
  }

  // Built from hex digits only, so it is a safe identifier without escaping.
  const name = `gh_test_${randomBytes(8).toString('hex')}`;
  let databaseUrl: string;
  try {
    const adminUrl = postgresAdminUrl();
    await withAdminClient((client) => client.query(`CREATE DATABASE "${name}"`));
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
  } catch (err) {
    await removeDataDir();
    throw err;
  }

  let cleanupPromise: Promise<void> | undefined;
  return {
    kind,
    databaseUrl,
    dataDir,
    cleanup() {
      // FORCE terminates connections the test (or the app under test) left open.
      cleanupPromise ??= withAdminClient(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }).finally(removeDataDir);
      return cleanupPromise;
    },
  };
}
