/**
 * A JWT access token revoked at one node is inactive at the other: two
 * Gatehouse processes on one PostgreSQL, the second having already cached
 * "not revoked" for the token, see the revocation through the shared table and
 * the cache invalidation (NOTIFY), well inside the cache's TTL.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { loadConfig } from '../../../src/config/index.js';
import { openCore, type Core } from '../../../src/core.js';
import { createLogger } from '../../../src/observability/logger.js';
import { revocationCacheTtlMs } from '../../../src/tokens/revocation-list.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';
import { basic } from '../../support/requests.js';

const api = 'https://api.example.test';

describe('JWT access-token revocation across two nodes on PostgreSQL', () => {
  let database: TestDatabase;
  let core: Core;
  let nodes: NodeProcess[] = [];
  let worker: { id: string; secret: string };
  let resourceServer: { id: string; secret: string };

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    const env = {
      DATABASE_URL: database.databaseUrl!,
      GATEHOUSE_DATA_DIR: database.dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_LOG_LEVEL: 'warn',
    };
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    core = await openCore(config, createLogger('silent'));
    const { services } = core;
    await services.resources.add(operator, { rbac: false, audience: api, name: 'Orders API', scopes: ['read'], accessTokenTtl: 300 });
    const w = await services.clients.create(operator, { type: 'service', name: 'worker' });
    worker = { id: w.client.clientId, secret: w.clientSecret! };
    const rs = await services.clients.create(operator, { type: 'service', name: 'orders api' });
    await services.clients.setAccess(operator, rs.client.clientId, { introspects: [api] });
    resourceServer = { id: rs.client.clientId, secret: rs.clientSecret! };
    nodes = await Promise.all([spawnNode(env), spawnNode(env)]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await core?.close();
    await database?.cleanup();
  });

  const post = (node: NodeProcess, path: string, client: { id: string; secret: string }, body: Record<string, string>) =>
    fetch(`${node.url}${path}`, { method: 'POST', headers: { authorization: basic(client.id, client.secret), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const introspect = async (node: NodeProcess, token: string) => (await (await post(node, '/token/introspection', resourceServer, { token })).json()) as { active: boolean };

  it('sees a revocation made at the other node within a second, before the cache TTL', async () => {
    const [a, b] = nodes as [NodeProcess, NodeProcess];
    const minted = (await (await post(a, '/token', worker, { grant_type: 'client_credentials', resource: api, scope: 'read' })).json()) as { access_token: string };
    const token = minted.access_token;
    // Both nodes answer active, and node B now caches "not revoked" for this jti.
    expect((await introspect(a, token)).active).toBe(true);
    expect((await introspect(b, token)).active).toBe(true);
    expect((await introspect(b, token)).active).toBe(true);

    const revoked = await post(a, '/token/revocation', worker, { token, token_type_hint: 'access_token' });
    expect(revoked.status).toBe(200);
    const revokedAt = Date.now();
    let seenAfter: number | undefined;
    while (Date.now() - revokedAt < revocationCacheTtlMs) {
      if (!(await introspect(b, token)).active) {
        seenAfter = Date.now() - revokedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(seenAfter).toBeDefined();
    expect(seenAfter!).toBeLessThan(1000);
    expect(await introspect(a, token)).toEqual({ active: false });
    // And it stays revoked on B (the table, not only the notification).
    await new Promise((r) => setTimeout(r, revocationCacheTtlMs + 200));
    expect(await introspect(b, token)).toEqual({ active: false });
  });
});
