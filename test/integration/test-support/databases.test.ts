// Tests for the test-support helper test/support/databases.ts, against the
// real PostgreSQL server started by global-setup (no mocks).
import { stat } from 'node:fs/promises';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freshDatabase,
  integrationDbKind,
  postgresAdminUrl,
  type TestDatabase,
} from '../../support/databases.js';

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function query<R extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function databaseExists(name: string): Promise<boolean> {
  const rows = await query(postgresAdminUrl(), 'SELECT 1 FROM pg_database WHERE datname = $1', [
    name,
  ]);
  return rows.length > 0;
}

function dbName(db: TestDatabase): string {
  expect(db.databaseUrl).toBeDefined();
  return new URL(db.databaseUrl!).pathname.slice(1);
}

// Anything a test created and did not clean up itself.
const leftovers: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(leftovers.splice(0).map((db) => db.cleanup()));
});

describe('freshDatabase("postgres")', () => {
  it('creates a database that accepts queries and is dropped by cleanup', async () => {
    const db = await freshDatabase('postgres');
    leftovers.push(db);
    expect(db.kind).toBe('postgres');
    const name = dbName(db);
    expect(name).toMatch(/^gh_test_[0-9a-f]{16}$/);

    const rows = await query<{ db: string; sum: number }>(
      db.databaseUrl!,
      'SELECT current_database() AS db, 1 + 1 AS sum',
    );
    expect(rows).toEqual([{ db: name, sum: 2 }]);
    expect(await isDirectory(db.dataDir)).toBe(true);

    // A connection left open must not stop cleanup (DROP ... WITH (FORCE)).
    const straggler = new pg.Client({ connectionString: db.databaseUrl! });
    straggler.on('error', () => {}); // it gets terminated by the drop
    await straggler.connect();

    await db.cleanup();
    await straggler.end().catch(() => {});
    expect(await databaseExists(name)).toBe(false);
    expect(await isDirectory(db.dataDir)).toBe(false);
    await expect(query(db.databaseUrl!, 'SELECT 1')).rejects.toMatchObject({ code: '3D000' });

    // Idempotent.
    await db.cleanup();
  });

  it('gives distinct databases and data dirs on each call', async () => {
    const [a, b] = await Promise.all([freshDatabase('postgres'), freshDatabase('postgres')]);
    leftovers.push(a, b);
    expect(a.databaseUrl).not.toBe(b.databaseUrl);
    expect(a.dataDir).not.toBe(b.dataDir);

    await query(a.databaseUrl!, 'CREATE TABLE marker (id int)');
    const inB = await query(b.databaseUrl!, "SELECT to_regclass('marker') AS t");
    expect(inB).toEqual([{ t: null }]);

    await a.cleanup();
    expect(await databaseExists(dbName(a))).toBe(false);
    expect(await databaseExists(dbName(b))).toBe(true);
  });

  it('keeps the server, user and options of the admin URL', async () => {
    const db = await freshDatabase('postgres');
    leftovers.push(db);
    const admin = new URL(postgresAdminUrl());
    const url = new URL(db.databaseUrl!);
    expect(url.protocol).toBe(admin.protocol);
    expect(url.host).toBe(admin.host);
    expect(url.username).toBe(admin.username);
    expect(url.search).toBe(admin.search);
  });
});

describe('freshDatabase("embedded")', () => {
  it('gives an empty data dir that cleanup removes, and no URL', async () => {
    const db = await freshDatabase('embedded');
    leftovers.push(db);
    expect(db.kind).toBe('embedded');
    expect(db.databaseUrl).toBeUndefined();
    expect(await isDirectory(db.dataDir)).toBe(true);

    await db.cleanup();
    expect(await isDirectory(db.dataDir)).toBe(false);
    await db.cleanup();
  });

  it('gives distinct data dirs on each call', async () => {
    const a = await freshDatabase('embedded');
    const b = await freshDatabase('embedded');
    leftovers.push(a, b);
    expect(a.dataDir).not.toBe(b.dataDir);
    await a.cleanup();
    expect(await isDirectory(a.dataDir)).toBe(false);
    expect(await isDirectory(b.dataDir)).toBe(true);
  });
});

describe('integrationDbKind', () => {
  const saved = process.env.GATEHOUSE_TEST_DB;
  afterEach(() => {
    if (saved === undefined) delete process.env.GATEHOUSE_TEST_DB;
    else process.env.GATEHOUSE_TEST_DB = saved;
  });

  it('defaults to embedded', () => {
    delete process.env.GATEHOUSE_TEST_DB;
    expect(integrationDbKind()).toBe('embedded');
  });

  it('accepts embedded and postgres', () => {
    process.env.GATEHOUSE_TEST_DB = 'embedded';
    expect(integrationDbKind()).toBe('embedded');
    process.env.GATEHOUSE_TEST_DB = 'postgres';
    expect(integrationDbKind()).toBe('postgres');
  });

  it('rejects anything else', () => {
    process.env.GATEHOUSE_TEST_DB = 'mysql';
    expect(() => integrationDbKind()).toThrow(/GATEHOUSE_TEST_DB/);
  });
});
