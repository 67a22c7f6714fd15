/**
 * The dashboard's figures include traffic served by every node (issue 16
 * done-when): two Gatehouse processes on one PostgreSQL, tokens taken on
 * node A and on node B, and GET /admin/v1/stats on either node counts both
 * (each node flushes its own counts into the shared per-minute table; no
 * node answers from its own memory).
 *
 * Always PostgreSQL (whatever GATEHOUSE_TEST_DB says): the embedded database
 * serves one process.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { loadConfig } from '../../../src/config/index.js';
import { openCore, type Core } from '../../../src/core.js';
import { createLogger } from '../../../src/observability/logger.js';
import { adminAudience } from '../../../src/resources/admin-audience.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';
import { basic, tokenRequest } from '../../support/requests.js';

interface Stats {
  series: Array<{ metric: string; label: string; client_id: string; total: number }>;
  totals: Record<string, number>;
}

describe('the dashboard across two nodes on one PostgreSQL', () => {
  let database: TestDatabase;
  let core: Core;
  let nodes: NodeProcess[] = [];
  let traffic: { id: string; secret: string };
  let reader: { id: string; secret: string };

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    const env = {
      DATABASE_URL: database.databaseUrl!,
      GATEHOUSE_DATA_DIR: database.dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_STATS_FLUSH_INTERVAL: '1s',
      GATEHOUSE_LOG_LEVEL: 'warn',
    };
    core = await openCore(loadConfig({ ...env, NODE_ENV: 'test' }), createLogger('silent'));
    const made = await core.services.clients.create(operator, { type: 'service', name: 'two-node traffic' });
    traffic = { id: made.client.clientId, secret: made.clientSecret! };
    const admin = await core.services.clients.create(operator, { type: 'service', name: 'stats reader', scope: 'admin:stats.read' });
    reader = { id: admin.client.clientId, secret: admin.clientSecret! };
    nodes = await Promise.all([spawnNode(env), spawnNode(env)]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await core?.close();
    await database?.cleanup();
  });

  const mint = async (node: NodeProcess, client: { id: string; secret: string }, extra: Record<string, string> = {}) => {
    const response = await tokenRequest(node.url, { grant_type: 'client_credentials', ...extra }, { authorization: basic(client.id, client.secret) });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const issuedTo = async (node: NodeProcess, token: string, clientId: string) => {
    const response = await fetch(`${node.url}/admin/v1/stats?range=1h`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    const stats = (await response.json()) as Stats;
    return stats.series.filter((s) => s.metric === 'tokens_issued' && s.client_id === clientId).reduce((sum, s) => sum + s.total, 0);
  };

  it('counts tokens taken on node A and on node B in the stats of either node', async () => {
    const [a, b] = nodes as [NodeProcess, NodeProcess];
    for (let i = 0; i < 3; i += 1) await mint(a, traffic);
    for (let i = 0; i < 4; i += 1) await mint(b, traffic);
    const onA = await mint(a, reader, { resource: adminAudience, scope: 'admin:stats.read' });
    const onB = await mint(b, reader, { resource: adminAudience, scope: 'admin:stats.read' });
    // Each node flushes every second; the figures settle at the sum, never at one node's share.
    await expect.poll(() => issuedTo(a, onA, traffic.id), { timeout: 20_000, interval: 250 }).toBe(7);
    await expect.poll(() => issuedTo(b, onB, traffic.id), { timeout: 20_000, interval: 250 }).toBe(7);
    // Both nodes' rows are in the one table (a node id is not part of the key: they add up).
    const rows = await core.db.query<{ total: string }>("SELECT sum(count)::text AS total FROM stats_minute WHERE metric = 'tokens_issued' AND client_id = $1", [traffic.id]);
    expect(Number(rows.rows[0]!.total)).toBe(7);
  });
});
