/**
 * Structured logging: one JSON line per request with the request id, route,
 * status, latency and client id, and no secret anywhere in the log, after
 * real flows that carry every kind of secret Gatehouse handles.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { basic, tokenRequest } from '../../support/requests.js';

const redirectUri = 'https://rp.example.test/callback';

describe('structured logs', () => {
  let gh: TestGatehouse;
  const secrets: Record<string, string> = {};

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_LOG_LEVEL: 'trace' } });
    const user = await gh.createUser({ password: 'Tr0ub4dor&3-password-in-the-form' });
    const web = await gh.createClient({ type: 'confidential', name: 'Web', redirectUris: [redirectUri] });
    const service = await gh.createClient({ type: 'service', name: 'Service' });
    const post = await gh.createClient({ type: 'service', name: 'Post', authMethod: 'client_secret_post' });
    Object.assign(secrets, { password: user.password, webSecret: web.clientSecret!, serviceSecret: service.clientSecret!, postSecret: post.clientSecret! });

    // Authorization code flow through the real pages (password in a form, session cookies).
    const rp = await oidc.discovery(new URL(gh.issuer), web.clientId, undefined, oidc.ClientSecretBasic(web.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid offline_access', state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', prompt: 'consent' });
    const agent = new UserAgent();
    const callback = new URL(await signInThroughPages(agent, gh.issuer, url.href, user));
    secrets.code = callback.searchParams.get('code')!;
    secrets.verifier = verifier;
    // The interaction cookies hold the interaction uid, which is in the page URLs by design (the signed
    // .sig cookie is what binds it to this browser); every other cookie value is a credential.
    for (const [name, value] of agent.cookies) if (!/^_interaction(_resume)?$/.test(name)) secrets[`cookie:${name}`] = value;
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
    Object.assign(secrets, { accessToken: tokens.access_token, refreshToken: tokens.refresh_token!, idToken: tokens.id_token! });
    await fetch(`${gh.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    // Replaying the code: refused, the grant revoked, audited as reuse.
    const replay = await tokenRequest(gh.issuer, { grant_type: 'authorization_code', code: secrets.code, code_verifier: verifier, redirect_uri: redirectUri }, { authorization: basic(web.clientId, web.clientSecret!) });
    expect(replay.status).toBe(400);
    await replay.arrayBuffer();
    // The replay revoked the grant: this refresh is refused, and revoking the dead token is still a 200.
    await (await tokenRequest(gh.issuer, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { authorization: basic(web.clientId, web.clientSecret!) })).arrayBuffer();

    // Client credentials, basic and post; a wrong secret; a bearer token and cookies on random paths.
    const cc = await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(service.clientId, service.clientSecret!) })).json() as { access_token: string };
    secrets.ccToken = cc.access_token;
    await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials', client_id: post.clientId, client_secret: post.clientSecret! })).arrayBuffer();
    secrets.wrongSecret = 'wrong-secret-that-must-not-be-logged-0123';
    await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(service.clientId, secrets.wrongSecret) })).arrayBuffer();
    secrets.basicHeader = basic(service.clientId, service.clientSecret!).slice('Basic '.length);
    secrets.strayCookie = 'session-cookie-value-that-must-not-be-logged';
    await fetch(`${gh.issuer}/token/revocation`, { method: 'POST', headers: { authorization: basic(service.clientId, service.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: secrets.ccToken }) });
    await fetch(`${gh.issuer}/nowhere?code=${secrets.code}&access_token=${secrets.ccToken}`, { headers: { cookie: `x=${secrets.strayCookie}`, authorization: `Bearer ${secrets.ccToken}` } });
    await gh.app.audit.flush();
  });
  afterAll(() => gh?.close());

  it('writes no secret, token, code, password or cookie to the log', () => {
    const log = gh.logs.join('\n');
    expect(gh.logs.length).toBeGreaterThan(20);
    for (const [name, value] of Object.entries(secrets)) {
      expect(value.length, name).toBeGreaterThanOrEqual(8);
      expect(log.includes(value), `${name} appears in the log`).toBe(false);
    }
  });

  it('writes no secret into the audit log either', async () => {
    const { rows } = await gh.app.db.query<{ r: string }>('SELECT (a.*)::text AS r FROM audit_events a');
    const audit = rows.map((r) => r.r).join('\n');
    expect(audit).toContain('token.issued');
    expect(audit).toContain('token.reuse_detected');
    expect(audit).toContain('token.revoked');
    for (const [name, value] of Object.entries(secrets)) expect(audit.includes(value), `${name} appears in the audit log`).toBe(false);
  });

  it('writes one JSON line per request with request id, route, status, latency and client id', () => {
    const lines = gh.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const tokenLine = lines.find((l) => l.msg === 'request' && l.route === 'token' && l.status === 200 && l.clientId);
    expect(tokenLine).toMatchObject({ level: 30, method: 'POST', path: '/token', route: 'token', status: 200, ip: '127.0.0.1', service: 'gatehouse' });
    expect(tokenLine!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof tokenLine!.latencyMs).toBe('number');
    expect(typeof tokenLine!.time).toBe('string');
    // Query strings (which can carry codes) are never logged: only the path.
    expect(lines.find((l) => l.msg === 'request' && l.path === '/nowhere')).toBeDefined();
  });
});
