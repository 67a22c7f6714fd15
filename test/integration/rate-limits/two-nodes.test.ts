/**
 * Two Gatehouse processes on one PostgreSQL share one budget: a client that
 * spreads its requests over both is limited at the configured total, not at
 * twice it, with the same headers from either node.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/index.js';
import { openCore, type Core } from '../../../src/core.js';
import { createLogger } from '../../../src/observability/logger.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';
import { basic, parseRateLimitField, tokenRequest } from '../../support/requests.js';
import { operator } from '../../../src/audit/events.js';

const budget = 40;

describe('a rate limit shared by two nodes on PostgreSQL', () => {
  let database: TestDatabase;
  let core: Core;
  let nodes: NodeProcess[] = [];
  const clients: Array<{ id: string; secret: string }> = [];

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    const env = {
      DATABASE_URL: database.databaseUrl!,
      GATEHOUSE_DATA_DIR: database.dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_RATE_LIMIT_TOKEN: `ip=off,client=${budget}/1m`,
      GATEHOUSE_LOG_LEVEL: 'warn',
    };
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    core = await openCore(config, createLogger('silent'));
    const { services } = core;
    for (const name of ['sequential', 'concurrent']) {
      const { client, clientSecret } = await services.clients.create(operator, { type: 'service', name });
      clients.push({ id: client.clientId, secret: clientSecret! });
    }
    nodes = await Promise.all([spawnNode(env), spawnNode(env)]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await core?.close();
    await database?.cleanup();
  });

  const mint = async (node: NodeProcess, client: { id: string; secret: string }) => {
    const response = await tokenRequest(node.url, { grant_type: 'client_credentials' }, { authorization: basic(client.id, client.secret) });
    const body = (await response.json()) as Record<string, unknown>;
    return { status: response.status, headers: response.headers, body };
  };

  it('alternating between the nodes, the client gets exactly the configured total', async () => {
    const results = [];
    for (let i = 0; i < budget + 20; i += 1) results.push(await mint(nodes[i % 2]!, clients[0]!));
    expect(results.filter((r) => r.status === 200)).toHaveLength(budget);
    expect(results.filter((r) => r.status === 429)).toHaveLength(20);
    // Both nodes served and both refused: the budget really was shared.
    for (const parity of [0, 1]) {
      const mine = results.filter((_r, i) => i % 2 === parity);
      expect(mine.some((r) => r.status === 200)).toBe(true);
      expect(mine.some((r) => r.status === 429)).toBe(true);
    }
    for (const refused of results.filter((r) => r.status === 429)) {
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(parseRateLimitField(refused.headers.get('ratelimit-policy'))).toEqual({ 'token-client': { q: budget, w: 60 } });
      expect(parseRateLimitField(refused.headers.get('ratelimit'))).toEqual({ 'token-client': { r: 0, t: retryAfter } });
      expect(refused.body.error).toBe('temporarily_unavailable');
    }
    const remaining = results.filter((r) => r.status === 200).map((r) => parseRateLimitField(r.headers.get('ratelimit'))['token-client']!.r);
    for (const r of remaining) expect(r).toBeLessThan(budget);
  });

  it('holds the total under concurrent load on both nodes', async () => {
    const waves = await Promise.all(
      Array.from({ length: 8 }, async (_v, worker) => {
        const statuses: number[] = [];
        for (let i = 0; i < 10; i += 1) statuses.push((await mint(nodes[worker % 2]!, clients[1]!)).status);
        return statuses;
      }),
    );
    const all = waves.flat();
    expect(all.filter((s) => s === 200)).toHaveLength(budget);
    expect(all.filter((s) => s === 429)).toHaveLength(80 - budget);
  });
});
