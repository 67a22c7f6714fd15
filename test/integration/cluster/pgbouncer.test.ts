/**
 * Two Gatehouse nodes behind PgBouncer in transaction pooling mode (issue 21):
 * statements go unprepared through the pooler, LISTEN and the advisory locks
 * of one-node jobs take a direct connection (GATEHOUSE_DATABASE_DIRECT_URL).
 * The pooler gets two server connections per database, fewer than the nodes
 * hold client connections, so server connections really are shared.
 */
import { randomBytes } from 'node:crypto';

import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { loadConfig } from '../../../src/config/index.js';
import { openCore, type Core } from '../../../src/core.js';
import { readMigrations } from '../../../src/db/migrate.js';
import { openPostgres } from '../../../src/db/postgres.js';
import { createLogger } from '../../../src/observability/logger.js';
import { freshDatabase, postgresAdminUrl, type TestDatabase } from '../../support/databases.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';
import { startPgBouncer, type PgBouncer } from '../../support/pgbouncer.js';

const form = { 'content-type': 'application/x-www-form-urlencoded' };

describe('a cluster behind PgBouncer in transaction mode', () => {
  let database: TestDatabase;
  let bouncer: PgBouncer;
  let core: Core;
  let nodes: NodeProcess[] = [];
  let auth: string;
  let clientId: string;

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    bouncer = await startPgBouncer(postgresAdminUrl(), { poolSize: 2 });
    const env = {
      DATABASE_URL: bouncer.url(database.databaseUrl!),
      GATEHOUSE_DATABASE_DIRECT_URL: database.databaseUrl!,
      GATEHOUSE_DATABASE_POOLER: 'transaction',
      GATEHOUSE_DATA_DIR: database.dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_KEY_CHECK_INTERVAL: '1s',
      GATEHOUSE_JWKS_MAX_AGE: '1s',
    };
    // Both nodes start together on an empty database: the migration lock is on the direct connection.
    nodes = await Promise.all([spawnNode(env), spawnNode(env)]);
    core = await openCore(loadConfig({ ...env, NODE_ENV: 'test' }), createLogger('silent'));
    const client = await core.services.clients.create(operator, { type: 'service', name: 'pooled' });
    clientId = client.client.clientId;
    auth = `Basic ${Buffer.from(`${clientId}:${client.clientSecret}`).toString('base64')}`;
    await core.services.resources.add(operator, { rbac: false, audience: 'https://api.example.test', name: 'API', scopes: [], accessTokenTtl: 60 });
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await core?.close();
    await bouncer?.stop();
    await database?.cleanup();
  });

  const token = (node: NodeProcess) =>
    fetch(`${node.url}/token`, { method: 'POST', headers: { ...form, authorization: auth }, body: 'grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test' });

  it('migrated once and serves tokens on both nodes under parallel load', async () => {
    const { rows } = await core.db.query<{ n: number }>('SELECT count(*) AS n FROM schema_migrations');
    expect(rows[0]!.n).toBe((await readMigrations()).length);
    const responses = await Promise.all(Array.from({ length: 60 }, (_, i) => token(nodes[i % 2]!)));
    expect(responses.map((r) => r.status)).toEqual(Array(60).fill(200));
    for (const node of nodes) expect(node.output()).not.toMatch(/prepared statement|error/i);
  });

  it('a disabled client is refused on both nodes within 2 s (cache invalidation over the direct LISTEN)', async () => {
    await core.services.clients.setDisabled(operator, clientId, true);
    const deadline = Date.now() + 2_000;
    for (const node of nodes) {
      let status = (await token(node)).status;
      while (status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        status = (await token(node)).status;
      }
      expect(status).toBe(401);
    }
    await core.services.clients.setDisabled(operator, clientId, false);
  });

  it('a key rotated in now signs on both nodes within 5 s', async () => {
    const { kid } = await core.services.keystore.rotate(operator, { alg: 'ES256', immediate: true });
    const deadline = Date.now() + 5_000;
    for (const node of nodes) {
      let seen: string | undefined;
      while (Date.now() < deadline) {
        const response = await token(node);
        if (response.status !== 200) continue;
        seen = decodeProtectedHeader(((await response.json()) as { access_token: string }).access_token).kid;
        if (seen === kid) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen).toBe(kid);
    }
  });

  it('named statements through the pooler fail, which is why the setting turns them off', async () => {
    const log = createLogger('silent');
    const run = async (prepareStatements: boolean) => {
      const db = openPostgres(bouncer.url(database.databaseUrl!), { poolMax: 4, log, prepareStatements });
      try {
        // 4 client connections over 2 server connections: some statement is prepared twice on one server connection.
        const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => db.query('SELECT $1::int AS n, pg_sleep(0.01)', [i])));
        return results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
      } finally {
        await db.close();
      }
    };
    expect(await run(false)).toEqual([]);
    const failures = await run(true);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatch(/prepared statement/);
  });
});
