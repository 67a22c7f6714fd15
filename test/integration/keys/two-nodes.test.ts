/**
 * Two Gatehouse processes on one PostgreSQL: a key change made anywhere is
 * signing on both within seconds, with no restart, and the scheduled rotation
 * runs on one node only.
 */
import { randomBytes } from 'node:crypto';

import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLogger } from '../../../src/observability/logger.js';
import { loadConfig } from '../../../src/config/index.js';
import { openCore, type Core } from '../../../src/core.js';
import type { Services } from '../../../src/services.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';
import { operator } from '../../../src/audit/events.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('key changes across two nodes on PostgreSQL', () => {
  let database: TestDatabase;
  let core: Core;
  let services: Services;
  let nodes: NodeProcess[] = [];
  let auth: string;
  const env: Record<string, string> = {};

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    Object.assign(env, {
      DATABASE_URL: database.databaseUrl!,
      GATEHOUSE_DATA_DIR: database.dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      // Short enough that one scheduled rotation happens during the test.
      GATEHOUSE_KEY_ROTATION_INTERVAL: '8s',
      GATEHOUSE_KEY_PUBLISH_DELAY: '3s',
      GATEHOUSE_JWKS_MAX_AGE: '1s',
      GATEHOUSE_KEY_CHECK_INTERVAL: '1s',
    });
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    core = await openCore(config, createLogger('silent'));
    ({ services } = core);
    const client = await services.clients.create(operator, { type: 'service', name: 'two-nodes' });
    auth = `Basic ${Buffer.from(`${client.client.clientId}:${client.clientSecret}`).toString('base64')}`;
    nodes = await Promise.all([spawnNode(env), spawnNode(env)]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await core?.close();
    await database?.cleanup();
  });

  it('started with one key per algorithm, created once although both nodes booted together', async () => {
    const keys = await services.keystore.list();
    expect(keys.filter((k) => k.state === 'active').map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(keys).toHaveLength(2);
    for (const node of nodes) {
      const response = await fetch(`${node.url}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
      expect(response.status).toBe(200);
    }
  });

  it('signs with a key rotated in with --now on both nodes within 5 s, without a restart', async () => {
    await services.resources.add(operator, { rbac: false, audience: 'https://api.example.test', name: 'API', scopes: [], accessTokenTtl: 60 });
    const mint = async (node: NodeProcess) => {
      const response = await fetch(`${node.url}/token`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.test',
      });
      expect(response.status).toBe(200);
      return decodeProtectedHeader(((await response.json()) as { access_token: string }).access_token).kid;
    };
    const pids = nodes.map((n) => n.child.pid);
    const started = performance.now();
    const { kid } = await services.keystore.rotate(operator, { alg: 'ES256', immediate: true });
    const seenAt: number[] = [];
    for (const node of nodes) {
      while ((await mint(node)) !== kid) {
        expect(performance.now() - started).toBeLessThan(5000);
        await sleep(10);
      }
      seenAt.push(performance.now() - started);
    }
    expect(nodes.map((n) => n.child.pid)).toEqual(pids);
    expect(nodes.every((n) => n.child.exitCode === null)).toBe(true);
    process.stdout.write(`[measure] keys rotate --now → first token with the new kid: node A ${seenAt[0]!.toFixed(0)} ms, node B ${seenAt[1]!.toFixed(0)} ms\n`);
  });

  it('runs the scheduled rotation on exactly one node', async () => {
    // The --now key above activated at t0; the schedule stages its successor at t0 + 8s - 3s.
    const deadline = Date.now() + 15_000;
    let staged: Array<Record<string, unknown>> = [];
    while (Date.now() < deadline) {
      staged = nodes.flatMap((n) => n.logLines('scheduled rotation staged a new signing key'));
      if (staged.some((l) => (l.staged as string[]).length > 0)) break;
      await sleep(200);
    }
    const stagedKids = staged.flatMap((l) => l.staged as string[]);
    expect(stagedKids.length).toBeGreaterThan(0);
    expect(new Set(stagedKids).size).toBe(stagedKids.length); // no kid staged twice
    const perNode = nodes.map((n) => n.logLines('scheduled rotation staged a new signing key').flatMap((l) => l.staged as string[]));
    for (const kid of stagedKids) expect(perNode.filter((kids) => kids.includes(kid))).toHaveLength(1);
    const next = (await services.keystore.list()).filter((k) => k.state === 'next' && k.alg === 'ES256');
    expect(next.length).toBeLessThanOrEqual(1);
  });
});
