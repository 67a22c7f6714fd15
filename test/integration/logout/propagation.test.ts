/**
 * Revocation that propagates (issue 18 item 5) and back-channel logout (item
 * 4), from the outside: a user signs in to a relying party through the real
 * pages, gets a JWT access token and a refresh token; then each trigger
 * (account disabled, password changed, second factor reset, sign out
 * everywhere, refresh-token replay) must deliver a logout token the test
 * receiver verifies (signature, iss, aud, events, sid, sub, no nonce), make
 * the JWT access token inactive at introspection, and make the relying
 * party's refresh fail. Disabling a client stops its tokens, and re-enabling
 * it does not bring them back.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { removeExpiredArtifacts } from '../../../src/artifacts/cleanup.js';
import { operator } from '../../../src/audit/events.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { enrolTotp } from '../mfa/sign-in-flow.js';
import { startReceiver, type Receiver } from './receiver.js';

const api = 'https://api.example.test';
const redirectUri = 'https://rp.example.test/callback';

describe('revocation that propagates, with back-channel logout', () => {
  let gh: TestGatehouse;
  let receiver: Receiver;
  let clientId = '';
  let rp: oidc.Configuration;
  let resourceServer: oidc.Configuration;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_BACKCHANNEL_LOGOUT_RETRY: '1s', GATEHOUSE_BACKCHANNEL_LOGOUT_POLL: '1s', GATEHOUSE_BACKCHANNEL_LOGOUT_ATTEMPTS: '3', GATEHOUSE_BACKCHANNEL_LOGOUT_ALLOW_LOOPBACK: 'true' } });
    receiver = await startReceiver(gh.issuer, () => clientId);
    await gh.app.services.resources.add(operator, { audience: api, name: 'API', scopes: ['read'], accessTokenTtl: 300, rbac: false });
    const created = await gh.createClient({
      type: 'public', name: 'RP', redirectUris: [redirectUri], scope: 'openid offline_access read',
      backchannelLogoutUri: receiver.uri, backchannelLogoutSessionRequired: true,
    });
    clientId = created.clientId;
    await gh.app.services.clients.setAccess(operator, clientId, { defaultResource: api });
    rp = await oidc.discovery(new URL(gh.issuer), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const api_ = await gh.createClient({ type: 'service', name: 'API' });
    await gh.app.services.clients.setAccess(operator, api_.clientId, { introspects: [api] });
    resourceServer = await oidc.discovery(new URL(gh.issuer), api_.clientId, undefined, oidc.ClientSecretBasic(api_.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(async () => {
    await gh?.close();
    await receiver?.close();
  });

  async function signIn(user: { username: string; password: string }, agent = new UserAgent()) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri, scope: 'openid offline_access read', prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = new URL(await signInThroughPages(agent, gh.issuer, url.href, user));
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.access_token.split('.')).toHaveLength(3);
    expect((await oidc.tokenIntrospection(resourceServer, tokens.access_token)).active).toBe(true);
    return { tokens, claims: tokens.claims()! };
  }

  /** After a trigger: one verified logout token for this session, the JWT inactive, the refresh refused. */
  async function expectPropagated(before: number, signedIn: Awaited<ReturnType<typeof signIn>>, userId: string) {
    const tokens = await receiver.waitFor(before + 1);
    const token = tokens[before]!;
    expect(token.sub).toBe(userId);
    expect(token.sid).toBe(signedIn.claims.sid);
    expect(token.aud).toBe(clientId);
    expect(token.iss).toBe(gh.issuer);
    expect(await oidc.tokenIntrospection(resourceServer, signedIn.tokens.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(rp, signedIn.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await gh.app.services.sessions.listSessions(userId)).toEqual([]);
    expect(await gh.app.services.sessions.listGrants(userId)).toEqual([]);
  }

  it('the ID token names its session; the session and grant are listed', async () => {
    const user = await gh.createUser();
    const signedIn = await signIn(user);
    expect(typeof signedIn.claims.sid).toBe('string');
    const sessions = await gh.app.services.sessions.listSessions(user.id);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.clients).toEqual([clientId]);
    const grants = await gh.app.services.sessions.listGrants(user.id);
    expect(grants.map((g) => g.clientId)).toEqual([clientId]);
  });

  const triggers: Array<[string, (userId: string) => Promise<unknown>]> = [
    ['disabling the account', (id) => gh.app.services.accounts.setDisabled(operator, id, true)],
    ['changing the password', (id) => gh.app.services.accounts.setPassword(operator, id, 'a different long passphrase')],
    ['resetting the second factor', async (id) => {
      await enrolTotp(gh, id);
      return gh.app.services.mfa.reset(operator, id);
    }],
    ['signing out everywhere', (id) => gh.app.services.sessions.signOutEverywhere(operator, id, 'sign_out_everywhere')],
  ];
  for (const [name, trigger] of triggers) {
    it(`${name} ends every session and token of the account and tells the relying party`, async () => {
      const user = await gh.createUser();
      const signedIn = await signIn(user);
      const before = receiver.tokens.length;
      await trigger(user.id);
      await expectPropagated(before, signedIn, user.id);
    });
  }

  it('a replayed refresh token ends every session and token of the account', async () => {
    const user = await gh.createUser();
    const signedIn = await signIn(user);
    const other = await signIn(user);
    const before = receiver.tokens.length;
    const rotated = await oidc.refreshTokenGrant(rp, signedIn.tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(resourceServer, rotated.access_token)).active).toBe(true);
    await expect(oidc.refreshTokenGrant(rp, signedIn.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const tokens = await receiver.waitFor(before + 2);
    expect(new Set(tokens.slice(before).map((t) => t.sid))).toEqual(new Set([signedIn.claims.sid, other.claims.sid]));
    expect(await oidc.tokenIntrospection(resourceServer, rotated.access_token)).toEqual({ active: false });
    expect(await oidc.tokenIntrospection(resourceServer, other.tokens.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(rp, other.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ detail: { reason: string } }>("SELECT detail FROM audit_events WHERE type = 'sessions.revoked' AND subject = $1", [user.id]);
    expect(rows.map((r) => r.detail.reason)).toEqual(['refresh_token_replay']);
  });

  it('re-enabling the account does not bring its old tokens back', async () => {
    const user = await gh.createUser();
    const signedIn = await signIn(user);
    await gh.app.services.accounts.setDisabled(operator, user.id, true);
    await gh.app.services.accounts.setDisabled(operator, user.id, false);
    expect(await oidc.tokenIntrospection(resourceServer, signedIn.tokens.access_token)).toEqual({ active: false });
    // A sign-in after the cutoff's second gets tokens that stand.
    await new Promise((r) => setTimeout(r, 1100));
    const again = await signIn(user);
    expect((await oidc.tokenIntrospection(resourceServer, again.tokens.access_token)).active).toBe(true);
  });

  it('a cutoff\'s own second: a stored (opaque) token issued then stands, an unstored JWT does not', async () => {
    const user = await gh.createUser();
    await gh.app.services.sessions.signOutEverywhere(operator, user.id, 'sign_out_everywhere');
    const { rows } = await gh.app.db.query<{ not_before: Date }>("SELECT not_before FROM token_cutoffs WHERE account_id = $1 AND client_id = ''", [user.id]);
    const second = Math.floor(rows[0]!.not_before.getTime() / 1000);
    const cutOff = (issuedAt: number, stored: boolean) => gh.app.services.sessions.isCutOff({ accountId: user.id, clientId, issuedAt, stored });
    // Every cutoff deletes the stored artifacts it covers: one found afterwards, from that second, came after it.
    expect(await cutOff(second, true)).toBe(false);
    expect(await cutOff(second - 1, true)).toBe(true);
    expect(await cutOff(second, false)).toBe(true);
    expect(await cutOff(second + 1, false)).toBe(false);
  });

  it('retries a failed delivery with backoff, and gives up visibly after the last attempt', async () => {
    const user = await gh.createUser();
    const signedIn = await signIn(user);
    const before = receiver.tokens.length;
    receiver.failNext(503);
    await gh.app.services.sessions.signOutEverywhere(operator, user.id, 'sign_out_everywhere');
    await receiver.waitFor(before + 1);
    expect(receiver.tokens[before]!.sid).toBe(signedIn.claims.sid);
    const [entry] = await gh.app.services.sessions.logouts.of(user.id);
    expect(entry).toMatchObject({ state: 'delivered', attempts: 2 });

    const doomed = await gh.createUser();
    await signIn(doomed);
    receiver.failNext(500, 500, 500);
    await gh.app.services.sessions.signOutEverywhere(operator, doomed.id, 'sign_out_everywhere');
    const deadline = Date.now() + 15_000;
    let state = 'pending';
    while (state === 'pending' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      state = (await gh.app.services.sessions.logouts.of(doomed.id))[0]!.state;
    }
    expect(state).toBe('failed');
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ type: string }>("SELECT type FROM audit_events WHERE subject = $1 AND type LIKE 'logout.%'", [doomed.id]);
    expect(rows.map((r) => r.type)).toEqual(['logout.backchannel_failed']);
    const metrics = await gh.app.metrics.registry.metrics();
    expect(metrics).toMatch(/gatehouse_backchannel_logouts_total\{outcome="failed"\} 1/);
    expect(metrics).toMatch(/gatehouse_backchannel_logouts_total\{outcome="retry"\} [3-9]/);
    expect(gh.logs.some((l) => l.includes('back-channel logout failed: given up'))).toBe(true);
  });

  it('disabling a client stops its tokens, and enabling it again does not bring them back', async () => {
    const user = await gh.createUser();
    const signedIn = await signIn(user);
    await gh.app.services.clients.setDisabled(operator, clientId, true);
    expect(await oidc.tokenIntrospection(resourceServer, signedIn.tokens.access_token)).toEqual({ active: false });
    await gh.app.services.clients.setDisabled(operator, clientId, false);
    expect(await oidc.tokenIntrospection(resourceServer, signedIn.tokens.access_token)).toEqual({ active: false });
    await expect(oidc.refreshTokenGrant(rp, signedIn.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await gh.app.services.sessions.listGrants(user.id)).toEqual([]);
  });

  it('RP-initiated logout: the library\'s logout token goes through the queue, off the request path', async () => {
    // The client's cutoff (the test before disabled it) covers tokens of its second; sign in after it.
    await new Promise((r) => setTimeout(r, 1100));
    const user = await gh.createUser();
    const agent = new UserAgent();
    const signedIn = await signIn(user, agent);
    const before = receiver.tokens.length;
    const page = await agent.request(`${gh.issuer}/session/end?id_token_hint=${signedIn.tokens.id_token!}`);
    expect(page.status).toBe(200);
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
    // The relying party is not answering: the user's sign-out must not wait for it.
    receiver.failNext(503);
    const started = Date.now();
    const confirmed = await agent.request(`${gh.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } });
    expect(confirmed.status).toBe(303);
    expect(Date.now() - started).toBeLessThan(1000);
    const [token] = (await receiver.waitFor(before + 1)).slice(before);
    expect(token).toMatchObject({ sub: user.id, sid: signedIn.claims.sid, aud: clientId });
    // The worker marks the entry delivered after the receiver has answered: poll for it.
    await expect.poll(() => gh.app.services.sessions.logouts.of(user.id)).toEqual([expect.objectContaining({ reason: 'rp_initiated_logout', state: 'delivered', attempts: 2 })]);
  });

  it('the cleanup job sweeps settled logouts a week after they settled, and keeps the recent ones', async () => {
    const { rows } = await gh.app.db.query<{ id: string }>("SELECT id::text AS id FROM backchannel_logouts WHERE state <> 'pending' ORDER BY id");
    expect(rows.length).toBeGreaterThanOrEqual(2);
    const [old, ...recent] = rows.map((r) => r.id);
    await gh.app.db.query("UPDATE backchannel_logouts SET updated_at = now() - interval '8 days' WHERE id = $1::bigint", [old!]);
    expect(await removeExpiredArtifacts(gh.app.db, gh.app.services.sessions.logouts)).toBe(1);
    const left = await gh.app.db.query<{ id: string }>("SELECT id::text AS id FROM backchannel_logouts WHERE state <> 'pending' ORDER BY id");
    expect(left.rows.map((r) => r.id)).toEqual(recent);
  });

  it('every logout token this suite received verified', () => {
    expect(receiver.rejected).toEqual([]);
    expect(receiver.tokens.length).toBeGreaterThanOrEqual(7);
  });
});
