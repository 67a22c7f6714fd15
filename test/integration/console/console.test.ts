/**
 * The console's backend (issue 16) over plain HTTP: what it answers without a
 * session, to a forged or expired sign-in, and to a session it did not issue;
 * its CSP and assets; the built-in client seeded once and kept up to date;
 * sessions stored hashed and sealed, swept when expired. The browser flow
 * itself is test/browser/console.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { removeExpiredArtifacts } from '../../../src/artifacts/cleanup.js';
import { consoleClient, consoleClientId, consoleClientMetadata } from '../../../src/console/built-in-client.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

describe('console backend', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse();
  });
  afterAll(() => gh?.close());

  const get = (path: string, init: RequestInit = {}) => fetch(`${gh.issuer}${path}`, { redirect: 'manual', ...init });

  it('sends a visitor without a session to sign in, and /console/login to the authorization endpoint with PKCE', async () => {
    const shell = await get('/console/');
    expect(shell.status).toBe(303);
    expect(shell.headers.get('location')).toBe('/console/login');
    const login = await get('/console/login');
    expect(login.status).toBe(303);
    const to = new URL(login.headers.get('location')!);
    expect(`${to.origin}${to.pathname}`).toBe(`${gh.issuer}/auth`);
    expect(Object.fromEntries(to.searchParams)).toMatchObject({
      client_id: consoleClientId,
      response_type: 'code',
      redirect_uri: `${gh.issuer}/console/callback`,
      code_challenge_method: 'S256',
      resource: 'urn:gatehouse:admin',
    });
    expect(to.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(to.searchParams.has('prompt')).toBe(false);
    const pending = login.headers.getSetCookie().find((c) => c.startsWith('__Host-gatehouse-console-sign-in='))!;
    expect(pending).toMatch(/; Path=\/; Max-Age=600; Secure; HttpOnly; SameSite=Strict$/);
    // The PKCE verifier is sealed inside the cookie, not readable in it.
    expect(pending).not.toContain(to.searchParams.get('state')!);
    const stepUp = new URL((await get('/console/login?step_up=1')).headers.get('location')!);
    expect(stepUp.searchParams.get('prompt')).toBe('login');
    // RFC 9470 step-up: a fresh sign-in (max_age=0) with the second factor asked for.
    expect(stepUp.searchParams.get('max_age')).toBe('0');
    expect(stepUp.searchParams.get('acr_values')).toBe('urn:gatehouse:acr:mfa');
    expect(to.searchParams.has('max_age')).toBe(false);
    // `return` takes a console page id only; anything else (an address elsewhere) is dropped, so no open redirect.
    for (const back of ['keys', 'https://evil.example/', '//evil.example', '/x']) {
      const answer = await get(`/console/login?step_up=1&return=${encodeURIComponent(back)}`);
      expect(answer.status).toBe(303);
      expect(new URL(answer.headers.get('location')!).origin).toBe(gh.issuer);
    }
  });

  it('refuses a callback without its sign-in cookie, with another sign-in\'s state, or with a forged cookie: a plain 400 page, no session', async () => {
    const login = await get('/console/login');
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    const state = new URL(login.headers.get('location')!).searchParams.get('state')!;
    const cases: Array<[string, Record<string, string>]> = [
      [`/console/callback?code=x&state=${state}`, {}],
      ['/console/callback?code=x&state=another', { cookie }],
      [`/console/callback?code=x&state=${state}`, { cookie: '__Host-gatehouse-console-sign-in=v1.abc.def.ghi' }],
    ];
    for (const [path, headers] of cases) {
      const answer = await get(path, { headers });
      expect(answer.status, path).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/text\/html/);
      expect(answer.headers.getSetCookie().some((c) => c.startsWith('__Host-gatehouse-console='))).toBe(false);
    }
    // A code the token endpoint does not know: refused, not a 5xx.
    const bad = await get(`/console/callback?code=not-a-code&state=${state}`, { headers: { cookie } });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('The sign-in did not complete');
  });

  it('answers /console/api without a session with 401 problem details, and with a made-up session the same', async () => {
    for (const headers of [{}, { cookie: '__Host-gatehouse-console=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, { cookie: '__Host-gatehouse-console=short' }] as Array<Record<string, string>>) {
      const answer = await get('/console/api/users', { headers });
      expect(answer.status).toBe(401);
      expect(answer.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(((await answer.json()) as { type: string }).type).toBe('urn:gatehouse:problem:console-session');
    }
  });

  it('uses a session: the admin API answers with the session\'s token; a write needs the CSRF token; an expired session is gone', async () => {
    const admin = await gh.createUser();
    await gh.app.services.accounts.setAdmin(operator, admin.id, true);
    // A real admin token is what the callback would store; here one from a service client stands in for the API call.
    const { clientId, clientSecret } = await gh.createClient({ type: 'service', name: 'console stand-in', scope: 'admin:users.read admin:users.write' });
    const tokenAnswer = await fetch(`${gh.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
      body: 'grant_type=client_credentials&resource=urn%3Agatehouse%3Aadmin&scope=admin%3Ausers.read%20admin%3Ausers.write',
    });
    const { access_token: accessToken } = (await tokenAnswer.json()) as { access_token: string };
    const { id, session } = await gh.app.services.consoleSessions.start({ accountId: admin.id, accessToken, authTime: new Date(), expiresAt: new Date(Date.now() + 60_000) });
    const cookie = `__Host-gatehouse-console=${id}`;

    // At rest: the id only as a hash, the token only sealed.
    const { rows } = await gh.app.db.query<{ id_hash: Uint8Array; token_sealed: string }>('SELECT id_hash, token_sealed FROM console_sessions');
    expect(rows.some((r) => Buffer.from(r.id_hash).toString('base64url') === id)).toBe(false);
    expect(rows.every((r) => !r.token_sealed.includes(accessToken.split('.')[1]!))).toBe(true);

    const shell = await get('/console/', { headers: { cookie } });
    expect(shell.status).toBe(200);
    const csp = shell.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(await shell.text()).toContain(`content="${session.csrf}"`);

    const list = await get('/console/api/users?limit=5', { headers: { cookie } });
    expect(list.status).toBe(200);
    const target = await gh.createUser();
    const forged = await get(`/console/api/users/${target.id}/disable`, { method: 'POST', headers: { cookie } });
    expect(forged.status).toBe(403);
    const wrong = await get(`/console/api/users/${target.id}/disable`, { method: 'POST', headers: { cookie, 'x-csrf-token': `${session.csrf.slice(0, -1)}${session.csrf.endsWith('A') ? 'B' : 'A'}` } });
    expect(wrong.status).toBe(403);
    expect((await gh.app.services.accounts.findById(target.id))?.disabled).toBe(false);
    const done = await get(`/console/api/users/${target.id}/disable`, { method: 'POST', headers: { cookie, 'x-csrf-token': session.csrf } });
    expect(done.status).toBe(200);
    expect((await gh.app.services.accounts.findById(target.id))?.disabled).toBe(true);
    // The admin API's own validation answers through the console unchanged.
    const invalid = await get('/console/api/users?limit=0', { headers: { cookie } });
    expect(invalid.status).toBe(400);

    const out = await get('/console/logout', { method: 'POST', headers: { cookie, 'x-csrf-token': session.csrf } });
    expect(out.status).toBe(204);
    expect((await get('/console/api/users', { headers: { cookie } })).status).toBe(401);

    const expired = await gh.app.services.consoleSessions.start({ accountId: admin.id, accessToken, authTime: new Date(), expiresAt: new Date(Date.now() - 1000) });
    expect((await get('/console/', { headers: { cookie: `__Host-gatehouse-console=${expired.id}` } })).status).toBe(303);
    expect(await removeExpiredArtifacts(gh.app.db, gh.app.services.consoleSessions)).toBeGreaterThanOrEqual(1);
  });

  it('serves its scripts and the libraries from this origin, and a plain page for anything else', async () => {
    for (const [path, type] of [['/console/static/app.js', /javascript/], ['/console/static/preact-htm.js', /javascript/], ['/console/static/uplot.js', /javascript/], ['/console/static/uplot.css', /css/]] as const) {
      const answer = await get(path);
      expect(answer.status, path).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(type);
    }
    expect((await get('/console/static/../package.json')).status).toBe(404);
    const missing = await get('/console/nothing-here');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/text\/html/);
    expect((await get('/console/login', { method: 'POST' })).status).toBe(405);
  });

  it('seeds its built-in client once, and brings its redirect URI up to date when the issuer changes', async () => {
    const client = await gh.app.services.clients.find(consoleClientId);
    expect(client).toMatchObject({ type: 'public', firstParty: true, redirectUris: [`${gh.issuer}/console/callback`] });
    await gh.app.audit.flush();
    const created = async () => (await gh.app.db.query("SELECT 1 FROM audit_events WHERE type = 'client.created' AND subject = $1", [consoleClientId])).rows.length;
    expect(await created()).toBe(1);
    await gh.app.services.clients.ensureBuiltIn(operator, consoleClientId, consoleClient(gh.issuer), consoleClientMetadata);
    await gh.app.audit.flush();
    expect(await created()).toBe(1);
    await gh.app.services.clients.ensureBuiltIn(operator, consoleClientId, consoleClient('https://id.example.com'), consoleClientMetadata);
    expect((await gh.app.services.clients.find(consoleClientId))?.redirectUris).toEqual(['https://id.example.com/console/callback']);
    await gh.app.services.clients.ensureBuiltIn(operator, consoleClientId, consoleClient(gh.issuer), consoleClientMetadata);
  });
});
