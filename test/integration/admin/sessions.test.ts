/**
 * A user's sessions and grants through /admin/v1 (issue 14): list, revoke
 * one, revoke all, against sessions made by real sign-ins through the pages;
 * every answer checked against the served OpenAPI document; object-level
 * authorisation (another user's session or grant is a 404); the relying
 * party's refresh token stops with its grant; audited with the admin actor.
 */
import * as oidc from 'openid-client';
import type { Db } from '../../../src/db/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { adminCaller, adminServiceClient, createContract, secretLookingValues, type AdminAnswer } from './helpers.js';

const redirectUri = 'https://rp.example.test/callback';

/** A passkey row as registration stores it (the key itself is not needed to list, rename or remove it). */
async function seedPasskey(db: Pick<Db, 'query'>, accountId: string, name: string): Promise<string> {
  const id = `pk-${name}-${accountId.slice(0, 8)}`;
  await db.query(
    `INSERT INTO passkeys (id, account_id, credential_id, public_key, counter, transports, device_type, backed_up, aaguid, attestation, name)
     VALUES ($1, $2, $3, $4, 0, '["internal"]', 'multiDevice', true, '00000000-0000-0000-0000-000000000000', 'none', $5)`,
    [id, accountId, Buffer.from(id).toString('base64url'), Buffer.from('public key'), name],
  );
  return id;
}

describe("admin API: a user's sessions and grants", () => {
  let gh: TestGatehouse;
  let call: ReturnType<typeof adminCaller>;
  let token: string;
  let reader: string;
  let rp: oidc.Configuration;
  const answers: AdminAnswer[] = [];

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off' } });
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Record<string, unknown>;
    const checked = adminCaller(gh, createContract(document));
    call = async (method, path, options) => {
      const answer = await checked(method, path, options);
      answers.push(answer);
      return answer;
    };
    token = await (await adminServiceClient(gh, ['admin:users.read', 'admin:users.write', 'admin:audit.read'])).token();
    reader = await (await adminServiceClient(gh, ['admin:users.read'])).token();
    const created = await gh.createClient({ type: 'confidential', name: 'RP', redirectUris: [redirectUri], scope: 'openid offline_access' });
    rp = await oidc.discovery(new URL(gh.issuer), created.clientId, undefined, oidc.ClientSecretBasic(created.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => gh?.close());

  async function signIn(user: { username: string; password: string }) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
    return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
  }

  const items = <T>(answer: AdminAnswer) => (answer.body as { items: T[] }).items;

  it('lists sessions and grants, revokes one grant: its refresh token stops', async () => {
    const user = await gh.createUser();
    const tokens = await signIn(user);
    const sessions = await call('GET', `/users/${user.id}/sessions`, { token: reader });
    expect(sessions.status).toBe(200);
    const [session] = items<{ id: string; clients: string[]; amr: string[]; signed_in_at: string }>(sessions);
    expect(session!.clients).toEqual([rp.clientMetadata().client_id]);
    expect(session!.amr).toEqual(['pwd']);
    expect(Date.now() - new Date(session!.signed_in_at).getTime()).toBeLessThan(60_000);
    const grants = await call('GET', `/users/${user.id}/grants`, { token: reader });
    const [grant] = items<{ id: string; client_id: string; scope: string }>(grants);
    expect(grant).toMatchObject({ client_id: rp.clientMetadata().client_id });
    expect(grant!.scope.split(' ')).toEqual(expect.arrayContaining(['openid', 'offline_access']));

    expect((await call('DELETE', `/users/${user.id}/grants/${grant!.id}`, { token })).status).toBe(204);
    expect(items(await call('GET', `/users/${user.id}/grants`, { token: reader }))).toEqual([]);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await call('DELETE', `/users/${user.id}/grants/${grant!.id}`, { token })).status).toBe(404);
  });

  it('ends one session of two, then every session; each write is audited with the admin actor', async () => {
    const user = await gh.createUser();
    await signIn(user);
    await signIn(user);
    const listed = items<{ id: string }>(await call('GET', `/users/${user.id}/sessions`, { token: reader }));
    expect(listed).toHaveLength(2);
    expect((await call('DELETE', `/users/${user.id}/sessions/${listed[0]!.id}`, { token })).status).toBe(204);
    expect(items<{ id: string }>(await call('GET', `/users/${user.id}/sessions`, { token: reader })).map((s) => s.id)).toEqual([listed[1]!.id]);
    expect((await call('DELETE', `/users/${user.id}/sessions/${listed[0]!.id}`, { token })).status).toBe(404);

    const all = await call('DELETE', `/users/${user.id}/sessions`, { token });
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ sessions: 1, grants: 1, logouts: 0 });
    expect(items(await call('GET', `/users/${user.id}/sessions`, { token: reader }))).toEqual([]);
    expect(items(await call('GET', `/users/${user.id}/grants`, { token: reader }))).toEqual([]);

    await gh.app.audit.flush();
    const events = items<{ type: string; actor: string; subject: string }>(await call('GET', `/audit/events?actor=${user.id}&limit=50`, { token }));
    const writes = events.filter((e) => ['session.revoked', 'sessions.revoked'].includes(e.type));
    expect(writes.map((e) => e.type).sort()).toEqual(['session.revoked', 'sessions.revoked']);
    for (const e of writes) expect(e.actor).toMatch(/^admin:/);
  });

  it("another user's session or grant is a 404, and an unknown user too", async () => {
    const owner = await gh.createUser();
    const other = await gh.createUser();
    await signIn(owner);
    const [session] = items<{ id: string }>(await call('GET', `/users/${owner.id}/sessions`, { token: reader }));
    const [grant] = items<{ id: string }>(await call('GET', `/users/${owner.id}/grants`, { token: reader }));
    expect((await call('DELETE', `/users/${other.id}/sessions/${session!.id}`, { token })).status).toBe(404);
    expect((await call('DELETE', `/users/${other.id}/grants/${grant!.id}`, { token })).status).toBe(404);
    expect((await call('GET', '/users/no-such-user/sessions', { token: reader })).status).toBe(404);
    expect((await call('DELETE', '/users/no-such-user/sessions', { token })).status).toBe(404);
    expect(items(await call('GET', `/users/${owner.id}/sessions`, { token: reader }))).toHaveLength(1);
    // A reader cannot write.
    expect((await call('DELETE', `/users/${owner.id}/sessions`, { token: reader })).status).toBe(403);
  });

  it("lists, renames and removes a user's passkeys; another user's passkey is a 404; audited with the caller", async () => {
    const owner = await gh.createUser();
    const other = await gh.createUser();
    const phone = await seedPasskey(gh.app.db, owner.id, 'Phone');
    const listed = await call('GET', `/users/${owner.id}/passkeys`, { token: reader });
    expect(listed.status).toBe(200);
    expect(items(listed)).toEqual([expect.objectContaining({ id: phone, name: 'Phone', device_type: 'multiDevice', backed_up: true, transports: ['internal'], last_used_at: null })]);
    expect(JSON.stringify(listed.body)).not.toMatch(/public_key|credential_id|counter/);

    const renamed = await call('PATCH', `/users/${owner.id}/passkeys/${phone}`, { token, body: { name: 'Work phone' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ id: phone, name: 'Work phone' });
    expect((await call('PATCH', `/users/${owner.id}/passkeys/${phone}`, { token, body: { name: '' } })).status).toBe(400);
    expect((await call('PATCH', `/users/${owner.id}/passkeys/${phone}`, { token, body: { name: 'x', counter: 0 } })).status).toBe(400);
    expect((await call('PATCH', `/users/${owner.id}/passkeys/${phone}`, { token: reader, body: { name: 'x' } })).status).toBe(403);

    expect((await call('DELETE', `/users/${other.id}/passkeys/${phone}`, { token })).status).toBe(404);
    expect((await call('GET', '/users/no-such-user/passkeys', { token: reader })).status).toBe(404);
    expect((await call('DELETE', `/users/${owner.id}/passkeys/${phone}`, { token: reader })).status).toBe(403);
    expect((await call('DELETE', `/users/${owner.id}/passkeys/${phone}`, { token })).status).toBe(204);
    expect((await call('DELETE', `/users/${owner.id}/passkeys/${phone}`, { token })).status).toBe(404);
    expect(items(await call('GET', `/users/${owner.id}/passkeys`, { token: reader }))).toEqual([]);
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ type: string; actor: string }>("SELECT type, actor FROM audit_events WHERE subject = $1 AND type LIKE 'passkey.%'", [owner.id]);
    expect(rows.map((r) => r.type).sort()).toEqual(['passkey.removed', 'passkey.renamed']);
  });

  it('registers a client with a back-channel logout URI; refuses one that is not https', async () => {
    const writer = await (await adminServiceClient(gh, ['admin:clients.write'])).token();
    const body = { type: 'confidential', name: 'Logout RP', redirect_uris: ['https://rp.example.test/cb'], backchannel_logout_uri: 'https://rp.example.test/logout', backchannel_logout_session_required: true };
    const created = await call('POST', '/clients', { token: writer, body });
    expect(created.status).toBe(201);
    expect((created.body as { client: Record<string, unknown> }).client).toMatchObject({ backchannel_logout_uri: 'https://rp.example.test/logout', backchannel_logout_session_required: true });
    const refused = await call('POST', '/clients', { token: writer, body: { ...body, backchannel_logout_uri: 'http://rp.example.test/logout#x' } });
    expect(refused.status).toBe(400);
    expect((refused.body as { fields: string[] }).fields).toEqual(['body.backchannelLogoutUri']);
  });

  it('no answer carries a session cookie, token or other secret-looking value', async () => {
    const cookies = (await gh.app.db.query<{ n: number }>("SELECT count(*)::int AS n FROM oidc_models WHERE model = 'Session'")).rows[0]!.n;
    expect(cookies).toBeGreaterThan(0);
    expect(answers.length).toBeGreaterThan(15);
    for (const answer of answers) expect(secretLookingValues(answer.body, new Set(['client_secret'])), answer.text.slice(0, 200)).toEqual([]);
  });
});
