/**
 * An API key revoked through the CLI is refused at once by both of two
 * Gatehouse processes on one PostgreSQL (no cache to wait out), and the CLI
 * shows a key's value once and never again.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { apiKeyPattern } from '../../../src/api-keys/format.js';
import { operator } from '../../../src/audit/events.js';
import { cli, withServices } from '../../support/cli.js';
import { freshDatabase, type TestDatabase } from '../../support/databases.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';

const api = 'https://api.example.test';

describe('API key revocation on two nodes', () => {
  let database: TestDatabase;
  let nodes: NodeProcess[] = [];
  let auth: string;
  let userId: string;
  const env: Record<string, string> = {};

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    Object.assign(env, { DATABASE_URL: database.databaseUrl!, GATEHOUSE_DATA_DIR: database.dataDir, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url') });
    await withServices(database, async (services) => {
      await services.resources.add(operator, { audience: api, name: 'API', scopes: ['read'], accessTokenTtl: 60, rbac: false });
      const client = await services.clients.create(operator, { type: 'service', name: 'exchanger' });
      await services.exchangePolicies.set(operator, client.client.clientId, { audiences: [api] });
      auth = `Basic ${Buffer.from(`${client.client.clientId}:${client.clientSecret}`).toString('base64')}`;
      userId = (await services.accounts.create(operator, { username: 'keyholder', email: 'k@example.test', password: 'correct horse battery staple' })).id;
    }, env);
    nodes = await Promise.all([spawnNode(env), spawnNode(env)]);
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await database?.cleanup();
  });

  const exchange = (node: NodeProcess, key: string) =>
    fetch(`${node.url}/token`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:gatehouse:params:oauth:token-type:api-key', subject_token: key, audience: api }),
    });

  it('creates a key with the CLI, shown once, and both nodes exchange it', async () => {
    const created = await cli(database, ['api-keys', 'create', '--owner', `user:${userId}`, '--name', 'two nodes', '--scope', 'read', '--json'], { env });
    expect(created.code).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    expect(key).toMatch(apiKeyPattern);
    const listed = await cli(database, ['api-keys', 'list', '--json'], { env });
    expect(listed.stdout).not.toContain(key);
    expect(listed.stdout).toContain(id);
    for (const node of nodes) expect((await exchange(node, key)).status).toBe(200);

    const revoked = await cli(database, ['api-keys', 'revoke', id], { env });
    expect(revoked.code).toBe(0);
    for (const node of nodes) {
      const response = await exchange(node, key);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
    }
    const again = await cli(database, ['api-keys', 'revoke', id], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already revoked/);
  });

  it('sets, shows and removes a client\'s exchange policy', async () => {
    const clientId = Buffer.from(auth.slice(6), 'base64').toString().split(':')[0]!;
    expect((await cli(database, ['exchange-policies', 'set', clientId, '--audience', 'https://unknown.example.test'], { env })).stderr).toMatch(/no such resource server/);
    const shown = await cli(database, ['exchange-policies', 'show', clientId, '--json'], { env });
    expect(JSON.parse(shown.stdout)).toMatchObject({ audiences: [api], mayImpersonate: false });
    expect((await cli(database, ['exchange-policies', 'remove', clientId], { env })).code).toBe(0);
    const response = await fetch(`${nodes[0]!.url}/token`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token_type: 'urn:gatehouse:params:oauth:token-type:api-key', subject_token: 'ghk_x', audience: api }),
    });
    expect(((await response.json()) as { error: string }).error).toBe('unauthorized_client');
  });

  it('explains itself with --help and refuses a malformed owner', async () => {
    const help = await cli(database, ['api-keys', 'create', '--help'], { env });
    expect(help.stdout).toMatch(/subject_token_type/);
    const bad = await cli(database, ['api-keys', 'create', '--owner', 'nobody', '--name', 'x'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--owner/);
  });
});
