/**
 * Two Gatehouse processes on one PostgreSQL behind one public origin (as a
 * load balancer presents them): a DPoP proof accepted by one node is refused
 * by the other, even when both receive it at the same moment, and a nonce
 * issued by one node is accepted by the other.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';

import { loadConfig } from '../../../src/config/index.js';
import { openCore, type Core } from '../../../src/core.js';
import { createLogger } from '../../../src/observability/logger.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';
import { basic, proof, proofKey, tokenRequest } from './helpers.js';

/** The origin clients see; each node learns it from the proxy headers it trusts. */
const publicOrigin = 'https://id.example.test';
const htu = `${publicOrigin}/token`;
const viaProxy = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'id.example.test' };

describe('DPoP proofs on two nodes sharing PostgreSQL', () => {
  let database: TestDatabase;
  let core: Core;
  let nodes: NodeProcess[] = [];
  let authorization: string;

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    const env = {
      DATABASE_URL: database.databaseUrl!,
      GATEHOUSE_DATA_DIR: database.dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_ISSUER: publicOrigin,
      GATEHOUSE_TRUST_PROXY: 'true',
      GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
      GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=off,client=off',
      GATEHOUSE_LOG_LEVEL: 'warn',
    };
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    core = await openCore(config, createLogger('silent'));
    const { services } = core;
    const { client, clientSecret } = await services.clients.create(operator, { type: 'service', name: 'worker', dpopBoundTokens: true });
    authorization = basic(client.clientId, clientSecret!);
    nodes = await Promise.all([spawnNode(env), spawnNode(env)]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await core?.close();
    await database?.cleanup();
  });

  const send = (node: NodeProcess, dpop: string) => tokenRequest(`${node.url}/token`, { authorization, dpop, headers: viaProxy });

  it('accepts on one node a nonce issued by the other', async () => {
    const key = await proofKey();
    const asked = await send(nodes[0]!, await proof(key, { htm: 'POST', htu }));
    expect(asked.body.error).toBe('use_dpop_nonce');
    const nonce = asked.headers.get('dpop-nonce')!;
    const accepted = await send(nodes[1]!, await proof(key, { htm: 'POST', htu, nonce }));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body.token_type).toBe('DPoP');
  });

  it('refuses on the second node a proof the first accepted', async () => {
    const key = await proofKey();
    const nonce = (await send(nodes[0]!, await proof(key, { htm: 'POST', htu }))).headers.get('dpop-nonce')!;
    for (const [first, second] of [[0, 1], [1, 0]] as const) {
      const once = await proof(key, { htm: 'POST', htu, nonce });
      expect((await send(nodes[first]!, once)).status).toBe(200);
      const replay = await send(nodes[second]!, once);
      expect(replay.status).toBe(400);
      expect(replay.body.error).toBe('invalid_dpop_proof');
    }
  });

  it('lets exactly one of many simultaneous presentations of one proof through, across both nodes', async () => {
    const key = await proofKey();
    const nonce = (await send(nodes[0]!, await proof(key, { htm: 'POST', htu }))).headers.get('dpop-nonce')!;
    for (let round = 0; round < 3; round += 1) {
      const once = await proof(key, { htm: 'POST', htu, nonce });
      const results = await Promise.all(Array.from({ length: 8 }, (_v, i) => send(nodes[i % 2]!, once)));
      expect(results.filter((r) => r.status === 200), `round ${round}`).toHaveLength(1);
      for (const refused of results.filter((r) => r.status !== 200)) expect(refused.body.error).toBe('invalid_dpop_proof');
    }
  });
});
