import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openDb } from '../../../src/db/index.js';
import { migrate, migrationsDir, pendingMigrations } from '../../../src/db/migrate.js';
import { createLogger } from '../../../src/observability/logger.js';
import { freshDatabase, integrationDbKind } from '../../support/databases.js';
import { freePort } from '../../support/gatehouse.js';

const root = new URL('../../..', import.meta.url).pathname;
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe('process start-up', () => {
  it('serves discovery on a fresh data directory, logs where it listens, and stops cleanly on SIGTERM', async () => {
    const database = await freshDatabase(integrationDbKind());
    cleanups.push(database.cleanup);
    const port = await freePort();
    const mtlsPort = await freePort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, GATEHOUSE_PORT: String(port), GATEHOUSE_MTLS_PORT: String(mtlsPort), GATEHOUSE_DATA_DIR: database.dataDir, ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

    const started = Date.now();
    let discovery: Record<string, unknown> | undefined;
    while (Date.now() - started < 30_000 && !discovery) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
        if (response.ok) discovery = (await response.json()) as Record<string, unknown>;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(discovery, output).toBeDefined();
    expect(discovery!.issuer).toBe(`http://localhost:${port}`);
    expect(discovery!.code_challenge_methods_supported).toEqual(['S256']);
    expect(discovery!.response_types_supported).toEqual(['code']);
    // Logs go to stdout asynchronously, and the listener answers a moment before start-up logs that it does.
    for (const started = Date.now(); !output.includes('Gatehouse listening on') && Date.now() - started < 5000; ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(output).toContain(`Gatehouse listening on http://127.0.0.1:${port}`);
    expect(output).toContain(`/.well-known/openid-configuration`);
    // mTLS works out of the box: a development certificate, and the aliases advertised.
    expect(output).toContain(`mTLS endpoint aliases listening on https://127.0.0.1:${mtlsPort}`);
    expect(output).toContain('DEVELOPMENT TLS certificate generated');
    expect((discovery!.mtls_endpoint_aliases as Record<string, string>).token_endpoint).toBe(`https://localhost:${mtlsPort}/token`);
    expect(discovery!.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['tls_client_auth', 'self_signed_tls_client_auth']));
    expect(discovery!.tls_client_certificate_bound_access_tokens).toBe(true);
    if (!database.databaseUrl) expect(output).toContain('DEVELOPMENT MASTER KEY');

    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"stopped"');
  });

  it('refuses to start with an unsafe production configuration and says which setting', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', GATEHOUSE_ISSUER: 'http://id.example.com' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('GATEHOUSE_ISSUER: production requires an https issuer');
    expect(stderr).toContain('GATEHOUSE_MASTER_KEY: production requires a master secret');
    expect(stderr).toContain('DATABASE_URL: production requires PostgreSQL');
    expect(stderr).not.toMatch(/\bat .+:\d+:\d+/);
  });
});

describe('the embedded database', () => {
  it('keeps PostgreSQL\'s shared buffers small: they live in a WebAssembly heap that never shrinks', async () => {
    const database = await freshDatabase('embedded');
    cleanups.push(database.cleanup);
    const db = await openDb({ databaseUrl: undefined, dataDir: database.dataDir, dbPoolMax: 1 }, createLogger('silent'));
    try {
      const { rows } = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      expect(rows[0]!.shared_buffers).toBe('16MB');
    } finally {
      await db.close();
    }
  });
});

describe('statements on PostgreSQL', () => {
  it('prepares parameterised statements once per connection, and survives a column added by another node', async () => {
    const database = await freshDatabase('postgres');
    cleanups.push(database.cleanup);
    const log = createLogger('silent');
    const db = await openDb({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, dbPoolMax: 1 }, log);
    const other = await openDb({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, dbPoolMax: 1 }, log);
    try {
      await db.exec('CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, \'one\')');
      const named = 'SELECT v FROM t WHERE id = $1';
      const starred = 'SELECT * FROM t WHERE id = $1';
      for (let i = 0; i < 3; i += 1) {
        expect((await db.query<{ v: string }>(named, [1])).rows).toEqual([{ v: 'one' }]);
        await db.query(starred, [1]);
      }
      const prepared = await db.query<{ statement: string }>("SELECT statement FROM pg_prepared_statements WHERE name LIKE 'gh\\_%'");
      expect(prepared.rows.map((r) => r.statement)).toEqual([named]);
      // A rolling upgrade: another node's migration adds a column while this connection holds its plans.
      await other.exec('ALTER TABLE t ADD COLUMN w text');
      expect((await db.query<{ v: string }>(named, [1])).rows).toEqual([{ v: 'one' }]);
      expect((await db.query<Record<string, unknown>>(starred, [1])).rows).toEqual([{ id: 1, v: 'one', w: null }]);
    } finally {
      await other.close();
      await db.close();
    }
  });
});

describe.each(['embedded', 'postgres'] as const)('migrations on %s', (kind) => {
  it('apply once, concurrently safe, and refuse an edited migration', async () => {
    const database = await freshDatabase(kind, { empty: true });
    cleanups.push(database.cleanup);
    const log = createLogger('silent');
    const open = () => openDb({ databaseUrl: database.databaseUrl, dataDir: database.dataDir, dbPoolMax: 4 }, log);
    const a = await open();
    const b = kind === 'postgres' ? await open() : a;
    try {
      expect(await pendingMigrations(a)).toBeGreaterThan(0);
      const [ra, rb] = await Promise.all([migrate(a), migrate(b)]);
      expect(ra.applied.length + rb.applied.length).toBe(ra.current);
      expect(await pendingMigrations(a)).toBe(0);
      expect((await migrate(a)).applied).toHaveLength(0);

      const edited = await mkdtemp(path.join(os.tmpdir(), 'gh-migrations-'));
      cleanups.push(() => rm(edited, { recursive: true, force: true }));
      await cp(migrationsDir, edited, { recursive: true });
      await writeFile(path.join(edited, '0001_init.sql'), '-- edited\nSELECT 1;');
      await expect(migrate(a, { dir: edited })).rejects.toThrow(/was edited after it was applied/);
    } finally {
      if (b !== a) await b.close();
      await a.close();
    }
  });
});
