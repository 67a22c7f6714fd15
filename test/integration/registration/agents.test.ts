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
import { register, registerOk, unlimitedRegistration } from './helpers.js';

const api = 'https://tools.example.test/mcp';
const redirectUri = 'http://127.0.0.1:7799/callback';
const agent = { redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', client_name: 'An agent' };

let gh: TestGatehouse;

beforeAll(async () => {
  gh = await startTestGatehouse({ env: { ...unlimitedRegistration, GATEHOUSE_REGISTRATION: 'open', GATEHOUSE_REGISTRATION_OPEN_POLICY: 'agents' } });
  await gh.app.services.resources.add(operator, { audience: api, name: 'Tools', scopes: ['mcp:tools'], accessTokenTtl: 300, rbac: false });
});

afterAll(() => gh?.close());

async function setAgentsPolicy(extra: Record<string, unknown> = {}) {
  await gh.app.services.registrationPolicies.set(operator, 'agents', {
    authMethods: ['none'], defaultAuthMethod: 'none', scopes: ['openid', 'offline_access'], resources: [api], expireUnusedAfterSeconds: 3600, ...extra,
  });
}

/** A token through the real pages, which is what counts as a use. */
async function useClient(clientId: string): Promise<void> {
  const user = await gh.createUser();
  const verifier = randomBytes(32).toString('base64url');
  const params = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', resource: api, code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256' });
  const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, `${gh.issuer}/auth?${params}`, user));
  const response = await fetch(`${gh.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: verifier, client_id: clientId, resource: api }),
  });
  expect(response.status, await response.clone().text()).toBe(200);
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
