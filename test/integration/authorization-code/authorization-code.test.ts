import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { formAction, hiddenField, signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { operator } from '../../../src/audit/events.js';

const redirectUri = 'https://rp.example.test/callback';
const postLogoutUri = 'https://rp.example.test/bye';
const api = 'https://api.example.test';

interface Login {
  callback: URL;
  verifier: string;
  state: string;
  nonce: string;
  agent: UserAgent;
}

describe('authorization code + PKCE', () => {
  let gh: TestGatehouse;
  let user: { id: string; username: string; password: string };
  let web: { clientId: string; clientSecret: string | undefined };
  let rp: oidc.Configuration;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'API', scopes: ['read'], accessTokenTtl: 120 });
    user = await gh.createUser();
    web = await gh.createClient({ type: 'confidential', name: 'Web app', redirectUris: [redirectUri], postLogoutRedirectUris: [postLogoutUri] });
    rp = await oidc.discovery(new URL(gh.issuer), web.clientId, undefined, oidc.ClientSecretBasic(web.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => gh?.close());

  async function login(config: oidc.Configuration, params: Record<string, string> = {}, agent = new UserAgent(), who = user): Promise<Login> {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...params,
    });
    const callback = new URL(await signInThroughPages(agent, gh.issuer, url.href, who));
    return { callback, verifier, state, nonce, agent };
  }

  const exchange = (config: oidc.Configuration, l: Login, verifier = l.verifier) =>
    oidc.authorizationCodeGrant(config, l.callback, { pkceCodeVerifier: verifier, expectedState: l.state, expectedNonce: l.nonce });

  it('signs a user in through the login and consent pages and issues a verifiable ID token', async () => {
    const l = await login(rp);
    expect(l.callback.origin + l.callback.pathname).toBe(redirectUri);
    expect(l.callback.searchParams.get('iss')).toBe(gh.issuer); // RFC 9207
    const tokens = await exchange(rp, l);
    const claims = tokens.claims()!;
    expect(claims.sub).toBe(user.id);
    expect(claims.aud).toBe(web.clientId);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe('urn:gatehouse:acr:pwd');
    expect(typeof claims.auth_time).toBe('number');
    expect(Math.abs(claims.auth_time! - Date.now() / 1000)).toBeLessThan(60);
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe('ES256');
    expect(tokens.refresh_token).toBeUndefined(); // no offline_access asked

    const info = await oidc.fetchUserInfo(rp, tokens.access_token, user.id);
    expect(info.email).toBe(`${user.username}@example.test`);
    expect(info.email_verified).toBe(true);
    expect(info.preferred_username).toBe(user.username);
  });

  it('remembers consent: a second authorization needs neither password nor consent', async () => {
    const first = await login(rp);
    await exchange(rp, first);
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri, scope: 'openid email', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge('v'.repeat(43)), code_challenge_method: 'S256',
    });
    const { url: landed } = await first.agent.follow(url.href, gh.issuer);
    expect(new URL(landed).searchParams.get('code')).toBeTruthy();
  });

  it('issues a JWT access token for a registered resource named at /authorize', async () => {
    const l = await login(rp, { resource: api, scope: 'openid read' });
    const tokens = await exchange(rp, l);
    const jwks = createRemoteJWKSet(new URL(`${gh.issuer}/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: gh.issuer, audience: api, typ: 'at+jwt' });
    expect(payload.sub).toBe(user.id);
    expect(payload.scope).toBe('read');
    expect(payload.client_id).toBe(web.clientId);
  });

  it('issues and rotates refresh tokens for offline_access, introspects and revokes', async () => {
    const l = await login(rp, { scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await exchange(rp, l);
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(refreshed.claims()?.sub).toBe(user.id);
    expect(refreshed.access_token).not.toBe(tokens.access_token);

    const introspected = await oidc.tokenIntrospection(rp, refreshed.access_token);
    expect(introspected).toMatchObject({ active: true, sub: user.id, client_id: web.clientId, token_type: 'Bearer' });
    const rt = await oidc.tokenIntrospection(rp, tokens.refresh_token!);
    expect(rt).toMatchObject({ active: true, sub: user.id, client_id: web.clientId });
    expect(rt.token_type).toBeUndefined(); // RFC 7662 token_type names access-token types only

    await oidc.tokenRevocation(rp, tokens.refresh_token!);
    expect((await oidc.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('rotates a public client refresh token and revokes the grant when an old one is replayed', async () => {
    const spa = await gh.createClient({ type: 'public', name: 'SPA', redirectUris: [redirectUri] });
    const pub = await oidc.discovery(new URL(gh.issuer), spa.clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const l = await login(pub, { scope: 'openid offline_access', prompt: 'consent' });
    const first = await exchange(pub, l);
    const second = await oidc.refreshTokenGrant(pub, first.refresh_token!);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);

    await expect(oidc.refreshTokenGrant(pub, first.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The replay killed the whole grant: the newest refresh token and the access token die too.
    await expect(oidc.refreshTokenGrant(pub, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(pub, second.access_token, user.id)).rejects.toThrow();
  });

  it('requires PKCE for every client, confidential ones included', async () => {
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', state: 'st' });
    const { url: landed } = await new UserAgent().follow(url.href, gh.issuer);
    const params = new URL(landed).searchParams;
    expect(params.get('error')).toBe('invalid_request');
    expect(params.get('error_description')).toMatch(/PKCE/);
    expect(params.get('state')).toBe('st');

    const plain = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', state: 'st', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
    const { url: landedPlain } = await new UserAgent().follow(plain.href, gh.issuer);
    expect(new URL(landedPlain).searchParams.get('error')).toBe('invalid_request');
  });

  it('rejects a wrong code_verifier with invalid_grant', async () => {
    const l = await login(rp);
    await expect(exchange(rp, l, oidc.randomPKCECodeVerifier())).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('treats a replayed code as an attack: invalid_grant, and the first exchange\'s tokens are revoked', async () => {
    const l = await login(rp, { scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await exchange(rp, l);
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    await expect(exchange(rp, l)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(rp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('lets exactly one of two simultaneous exchanges of the same code succeed', async () => {
    const l = await login(rp);
    const results = await Promise.allSettled([exchange(rp, l), exchange(rp, l), exchange(rp, l)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 'rejected')) {
      expect((r as PromiseRejectedResult).reason).toMatchObject({ error: 'invalid_grant' });
    }
  });

  it('rejects the code for another client and with a wrong client secret', async () => {
    const l = await login(rp);
    const other = await gh.createClient({ type: 'confidential', name: 'Other', redirectUris: [redirectUri] });
    const otherRp = await oidc.discovery(new URL(gh.issuer), other.clientId, undefined, oidc.ClientSecretBasic(other.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    await expect(exchange(otherRp, l)).rejects.toMatchObject({ error: 'invalid_grant' });
    const wrongSecret = await oidc.discovery(new URL(gh.issuer), web.clientId, undefined, oidc.ClientSecretBasic('wrong'), { execute: [oidc.allowInsecureRequests] });
    await expect(exchange(wrongSecret, l)).rejects.toMatchObject({ status: 401 });
  });

  it('never redirects to an unregistered redirect URI: the user sees an error page', async () => {
    for (const uri of ['https://evil.example.test/callback', `${redirectUri}/extra`, `${redirectUri}?x=1`]) {
      const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: uri, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' });
      const step = await new UserAgent().request(url.href);
      expect(step.status).toBe(400);
      expect(step.location).toBeUndefined();
      expect(step.body).toContain('redirect_uri did not match');
      expect(step.body).not.toContain('evil.example.test');
    }
    const missing = oidc.buildAuthorizationUrl(rp, { scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' });
    missing.searchParams.delete('redirect_uri');
    expect((await new UserAgent().request(missing.href)).status).toBe(400);
  });

  it('refuses a wrong password and a disabled account on the login page', async () => {
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const agent = new UserAgent();
    const { step, url: page } = await agent.follow(url.href, gh.issuer);
    const csrf = hiddenField(step.body, 'csrf');
    const action = new URL(formAction(step.body, 'login'), gh.issuer).href;

    const wrong = await agent.request(action, { form: { csrf, login: user.username, password: 'not the password at all' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('Username or password is incorrect.');
    const unknown = await agent.request(action, { form: { csrf, login: 'nobody-here', password: 'not the password at all' } });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toContain('Username or password is incorrect.');

    const disabled = await gh.createUser();
    await gh.app.services.accounts.setDisabled(operator, disabled.username, true);
    // Right or wrong, a disabled account's password gets the wrong-password answer: no oracle for who knows it.
    const blocked = await agent.request(action, { form: { csrf, login: disabled.username, password: disabled.password } });
    const guessed = await agent.request(action, { form: { csrf, login: disabled.username, password: 'not the password at all' } });
    expect(blocked.status).toBe(401);
    expect(guessed.status).toBe(401);
    expect(blocked.body).toContain('Username or password is incorrect.');
    // The page carries no passkey challenge (the script asks for one), so the two answers are the same page.
    expect(blocked.body).toBe(guessed.body);

    const noCsrf = await agent.request(action, { form: { login: user.username, password: user.password } });
    expect(noCsrf.status).toBe(403);
    const fresh = new UserAgent();
    const foreign = await fresh.request(action, { form: { csrf, login: user.username, password: user.password } });
    expect(foreign.status).toBe(400); // no interaction cookie: a cross-site post cannot finish a login
    expect(page).toMatch(/\/interaction\//);
  });

  it('refuses malformed and oversized login forms cleanly', async () => {
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' });
    const agent = new UserAgent();
    const { step } = await agent.follow(url.href, gh.issuer);
    const csrf = hiddenField(step.body, 'csrf');
    const action = new URL(formAction(step.body, 'login'), gh.issuer).href;
    const cookie = [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const huge = await fetch(action, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `csrf=${csrf}&login=a&password=${'x'.repeat(100_000)}` });
    expect(huge.status).toBe(413);
    const json = await fetch(action, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(415);
    const long = await agent.request(action, { form: { csrf, login: user.username, password: 'p'.repeat(300) } });
    expect(long.status).toBe(400);
    for (const text of [await huge.text(), await json.text(), long.body]) {
      expect(text).not.toMatch(/\bat .+:\d+:\d+|node_modules|PayloadTooLarge|koa/);
    }
  });

  it('signs out through RP-initiated logout, after which prompt=none answers login_required', async () => {
    const l = await login(rp);
    const tokens = await exchange(rp, l);
    const endSession = oidc.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutUri, state: 'bye' });
    const page = await l.agent.request(endSession.href);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain('form-action \'self\' https://rp.example.test');
    const xsrf = hiddenField(page.body, 'xsrf');
    const confirm = await l.agent.request(`${gh.issuer}/session/end/confirm`, { form: { xsrf, logout: 'yes' } });
    expect(confirm.status).toBe(303);
    expect(confirm.location).toBe(`${postLogoutUri}?state=bye`);

    const silent = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', prompt: 'none', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' });
    const { url: landed } = await l.agent.follow(silent.href, gh.issuer);
    expect(new URL(landed).searchParams.get('error')).toBe('login_required');
  });

  it('lets the user deny consent: access_denied goes back to the client', async () => {
    const agent = new UserAgent();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid email', state: 'deny', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256' });
    const { step } = await agent.follow(url.href, gh.issuer);
    const posted = await agent.request(new URL(formAction(step.body, 'login'), gh.issuer).href, { form: { csrf: hiddenField(step.body, 'csrf'), login: user.username, password: user.password } });
    const { step: consent } = await agent.follow(posted.location!, gh.issuer);
    expect(consent.body).toContain('Allow access?');
    const denied = await agent.request(new URL(formAction(consent.body, 'abort'), gh.issuer).href, { form: { csrf: hiddenField(consent.body, 'csrf') } });
    const { url: landed } = await agent.follow(denied.location!, gh.issuer);
    const params = new URL(landed).searchParams;
    expect(params.get('error')).toBe('access_denied');
    expect(params.get('state')).toBe('deny');
  });
});
