/**
 * Registration for agents: open registration under a named policy
 * (GATEHOUSE_REGISTRATION_OPEN_POLICY) with a per-software cap and expiry of
 * registrations nobody uses, swept by the cleanup job.
 */
import { createHash, randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { removeExpiredArtifacts } from '../../../src/artifacts/cleanup.js';
import { operator } from '../../../src/audit/events.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { forUpdate, readClient, register, registerOk, unlimitedRegistration, updateClient } from './helpers.js';

const api = 'https://tools.example.test/mcp';
const otherApi = 'https://files.example.test/';
const redirectUri = 'http://127.0.0.1:7799/callback';
const agent = { redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', client_name: 'An agent' };

let gh: TestGatehouse;

beforeAll(async () => {
  gh = await startTestGatehouse({ env: { ...unlimitedRegistration, GATEHOUSE_REGISTRATION: 'open', GATEHOUSE_REGISTRATION_OPEN_POLICY: 'agents' } });
  await gh.app.services.resources.add(operator, { audience: api, name: 'Tools', scopes: ['mcp:tools', 'mcp:admin'], accessTokenTtl: 300, rbac: false });
  await gh.app.services.resources.add(operator, { audience: otherApi, name: 'Not for agents', scopes: ['files:read'], accessTokenTtl: 300, rbac: false });
});

afterAll(() => gh?.close());

async function setAgentsPolicy(extra: Record<string, unknown> = {}) {
  await gh.app.services.registrationPolicies.set(operator, 'agents', {
    authMethods: ['none'], defaultAuthMethod: 'none', scopes: ['openid', 'offline_access'], resources: [api], expireUnusedAfterSeconds: 3600, ...extra,
  });
}

/** A token through the real pages, which is what counts as a use; its claims. */
async function useClient(clientId: string, scope = 'openid'): Promise<Record<string, unknown>> {
  const user = await gh.createUser();
  const verifier = randomBytes(32).toString('base64url');
  const params = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope, resource: api, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' });
  const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, `${gh.issuer}/auth?${params}`, user));
  const response = await fetch(`${gh.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: verifier, client_id: clientId, resource: api }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
  const { access_token: token } = (await response.json()) as { access_token: string };
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

async function backdate(clientId: string, seconds: number) {
  await gh.app.db.query(`UPDATE clients SET created_at = now() - make_interval(secs => $2) WHERE client_id = $1`, [clientId, seconds]);
  await gh.app.db.query(`UPDATE client_usage SET last_used_at = now() - make_interval(secs => $2) WHERE client_id = $1`, [clientId, seconds]);
}

const exists = async (clientId: string) => (await gh.app.services.clients.find(clientId)) !== undefined;

describe('open registration under the agents policy', () => {
  it('refuses registration while the named policy is not defined, without a 5xx', async () => {
    const answer = await register(gh, agent);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_client_metadata');
  });

  it('registers a public client with the policy\'s scopes and resources, and no secret', async () => {
    await setAgentsPolicy();
    const client = await registerOk(gh, agent);
    expect(client.client_secret).toBeUndefined();
    const stored = await gh.app.services.clients.find(client.client_id);
    expect(stored).toMatchObject({ registrationPolicy: 'agents' });
    const { rows } = await gh.app.db.query<{ metadata: Record<string, unknown> }>('SELECT metadata FROM clients WHERE client_id = $1', [client.client_id]);
    expect(rows[0]!.metadata).toMatchObject({ scope: 'openid offline_access', resources: [api] });
    // The policy still judges: a confidential client or an API it does not list is refused.
    expect((await register(gh, { ...agent, token_endpoint_auth_method: 'client_secret_basic' })).body.error).toBe('invalid_client_metadata');
    expect((await register(gh, { ...agent, resources: ['https://other.example.test/'] })).body.error).toBe('invalid_client_metadata');
  });

  it('accepts the scopes of the policy\'s resource servers in a registration\'s scope, and the token carries only those', async () => {
    await setAgentsPolicy();
    // What the MCP SDK sends: its server's scopes_supported (RFC 9728), plus offline_access.
    const client = await registerOk(gh, { ...agent, scope: 'mcp:tools offline_access' });
    expect(client.scope).toBe('mcp:tools offline_access');
    expect(client).not.toHaveProperty('allowed_scopes');
    const { rows } = await gh.app.db.query<{ metadata: Record<string, unknown> }>('SELECT metadata FROM clients WHERE client_id = $1', [client.client_id]);
    // The library's `scope` holds its own scopes; the whole list narrows what the resource server grants.
    expect(rows[0]!.metadata).toMatchObject({ scope: 'offline_access', allowed_scopes: 'mcp:tools offline_access', resources: [api] });
    // mcp:admin is the server's too, but not registered by this client: the token has mcp:tools only.
    expect(await useClient(client.client_id, 'mcp:tools mcp:admin')).toMatchObject({ aud: api, scope: 'mcp:tools', client_id: client.client_id });

    // RFC 7592: the client reads its scope back whole, and an update that sends it back keeps it.
    const read = await readClient(client, client.registration_access_token);
    expect(read.body.scope).toBe('mcp:tools offline_access');
    const updated = await updateClient(client, client.registration_access_token, forUpdate(read.body as typeof client, { client_name: 'Renamed agent' }));
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body).toMatchObject({ scope: 'mcp:tools offline_access', client_name: 'Renamed agent' });
    const widened = await updateClient(client, updated.body.registration_access_token as string, forUpdate(updated.body as typeof client, { scope: 'mcp:tools files:read' }));
    expect(widened.status).toBe(400);
    expect(widened.body).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/^scope: files:read is not allowed/) });
  });

  it('a registration naming only API scopes gets the policy\'s OpenID scopes, and says so', async () => {
    await setAgentsPolicy();
    const client = await registerOk(gh, { ...agent, scope: 'mcp:tools' });
    expect(client.scope).toBe('mcp:tools openid offline_access');
    expect(await useClient(client.client_id, 'mcp:tools')).toMatchObject({ scope: 'mcp:tools' });
  });

  it('refuses a scope of a resource server the policy does not allow, and unknown scopes, with invalid_client_metadata', async () => {
    await setAgentsPolicy();
    for (const scope of ['files:read', 'mcp:tools files:read', 'no-such-scope', 'mcp:tools roles', 'openid admin:read']) {
      const answer = await register(gh, { ...agent, scope });
      expect(answer.status, scope).toBe(400);
      expect(answer.body.error, scope).toBe('invalid_client_metadata');
      expect(String(answer.body.error_description), scope).toMatch(/^scope: /);
    }
    // Naming the other server as a resource does not help: the policy does not allow it.
    expect((await register(gh, { ...agent, scope: 'files:read', resources: [otherApi] })).body.error).toBe('invalid_client_metadata');
    // A client registered for fewer of the policy's servers may not name the scopes of the others.
    await setAgentsPolicy({ resources: [api, otherApi] });
    expect((await register(gh, { ...agent, scope: 'files:read', resources: [api] })).body.error).toBe('invalid_client_metadata');
    expect((await registerOk(gh, { ...agent, scope: 'files:read', resources: [otherApi] })).scope).toContain('files:read');
    await setAgentsPolicy();
  });

  it('discards an allowed_scopes a client sends: it is the operator\'s field', async () => {
    await setAgentsPolicy();
    const client = await registerOk(gh, { ...agent, scope: 'openid', allowed_scopes: 'mcp:tools mcp:admin' });
    expect(client.scope).toBe('openid');
    const { rows } = await gh.app.db.query<{ metadata: Record<string, unknown> }>('SELECT metadata FROM clients WHERE client_id = $1', [client.client_id]);
    expect(rows[0]!.metadata).not.toHaveProperty('allowed_scopes');
  });

  it('caps the clients of one software_id, and then requires one', async () => {
    await setAgentsPolicy({ maxClientsPerSoftware: 2 });
    const software = { ...agent, software_id: `agent-${randomBytes(3).toString('hex')}` };
    await registerOk(gh, software);
    await registerOk(gh, software);
    const third = await register(gh, software);
    expect(third.status).toBe(400);
    expect(third.body.error_description).toMatch(/2 clients per software_id/);
    expect((await registerOk(gh, { ...software, software_id: 'another-agent' })).client_id).toBeTruthy();
    expect((await register(gh, agent)).body.error_description).toMatch(/software_id is required/);
    await setAgentsPolicy();
  });

  it('removes registrations unused for the policy\'s time; used ones stay', async () => {
    await setAgentsPolicy({ expireUnusedAfterSeconds: 3600 });
    const neverUsed = (await registerOk(gh, agent)).client_id;
    const usedLongAgo = (await registerOk(gh, agent)).client_id;
    const usedRecently = (await registerOk(gh, agent)).client_id;
    const fresh = (await registerOk(gh, agent)).client_id;
    await useClient(usedLongAgo);
    await useClient(usedRecently);
    await backdate(neverUsed, 7200);
    await backdate(usedLongAgo, 7200);
    await gh.app.db.query(`UPDATE clients SET created_at = now() - interval '2 hours' WHERE client_id = $1`, [usedRecently]);

    // The cleanup job's own pass (src/server.ts schedules it every GATEHOUSE_CLEANUP_INTERVAL).
    expect(await removeExpiredArtifacts(gh.app.db, [gh.app.services.unusedClients])).toBeGreaterThanOrEqual(2);

    expect(await exists(neverUsed)).toBe(false);
    expect(await exists(usedLongAgo)).toBe(false);
    expect(await exists(usedRecently)).toBe(true);
    expect(await exists(fresh)).toBe(true);
    const authorize = await fetch(`${gh.issuer}/auth?client_id=${neverUsed}&response_type=code&redirect_uri=${encodeURIComponent(redirectUri)}&scope=openid`, { redirect: 'manual' });
    expect(authorize.status).toBe(400);
    // Audit rows are written in batches: wait for both.
    const expiredSubjects = async () => (await gh.app.db.query<{ subject: string }>("SELECT subject FROM audit_events WHERE type = 'client.expired'")).rows.map((r) => r.subject);
    await expect.poll(expiredSubjects, { timeout: 5000 }).toEqual(expect.arrayContaining([neverUsed, usedLongAgo]));
  });

  it('keeps every registration of a policy without expiry', async () => {
    await gh.app.services.registrationPolicies.set(operator, 'agents', { authMethods: ['none'], defaultAuthMethod: 'none', scopes: ['openid'], resources: [api] });
    const client = (await registerOk(gh, agent)).client_id;
    await backdate(client, 400 * 86_400);
    await removeExpiredArtifacts(gh.app.db, [gh.app.services.unusedClients]);
    expect(await exists(client)).toBe(true);
  });
});
