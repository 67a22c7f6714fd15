/**
 * The sign-in pages in a real Chromium against a real Gatehouse, with a real
 * relying party (openid-client) on the other end: login, consent, errors,
 * cancel, no-JavaScript, escaping, and RP-initiated logout.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { allProblems, phone, saveScreenshot } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.js';
import { operator } from '../../src/audit/events.js';

const suite = browserSuite();
let gatehouse: TestGatehouse;
beforeAll(() => {
  gatehouse = suite.gatehouse;
});
const session = suite.session;

async function relyingParty(options: { name?: string; firstParty?: boolean } = {}): Promise<RelyingParty> {
  const rp = await startRelyingParty({
    issuer: gatehouse.issuer,
    register: (uris) =>
      gatehouse.createClient({
        type: 'confidential',
        name: options.name ?? 'Acme Notes',
        firstParty: options.firstParty ?? false,
        redirectUris: [uris.redirectUri],
        postLogoutRedirectUris: [uris.postLogoutRedirectUri],
      }),
  });
  suite.closeAfterTest(rp);
  return rp;
}

async function fillLogin(page: Page, login: string, password: string) {
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
}

/** Submits the login form and returns the response to that POST. */
async function submitLogin(page: Page) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/login')),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  return response;
}

async function arriveAtCallback(page: Page, rp: RelyingParty): Promise<URL> {
  await page.waitForURL((url) => rp.isCallback(url));
  await expect.poll(() => page.textContent('body')).toBe('done');
  return new URL(page.url());
}

const everything = 'openid profile email offline_access';

describe('browser sign-in', () => {
  it('signs in, asks for consent, and hands the RP a valid code, ID token, userinfo and refresh token', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty({ name: 'Acme Notes' });
    const { page, problems } = await session(phone);

    const login = await rp.beginLogin({ scope: everything, extraParams: { prompt: 'consent' } });
    const loginPage = await page.goto(login.url);
    await expect.poll(() => page.title()).toBe('Sign in · Gatehouse');
    const csp = loginPage!.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    // form-action names the RP's origin: browsers apply it to the redirect after submit.
    expect(csp).toMatch(new RegExp(`form-action 'self' ${new URL(rp.redirectUri).origin}(;|$)`));
    await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    expect(await page.locator('.lead').innerText()).toBe('to continue to Acme Notes');
    const loginShot = await saveScreenshot(page, 'login-phone');
    expect(loginShot.bytes).toBeGreaterThan(0);

    await fillLogin(page, user.username, user.password);
    const posted = await submitLogin(page);
    expect(posted.status()).toBe(303);

    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(await page.locator('.lead').innerText()).toBe('Acme Notes is asking to:');
    const asked = await page.locator('ul.scopes li').allInnerTexts();
    expect(asked).toEqual(['Confirm who you are', 'Your name and username', 'Your email address', 'Stay signed in to the application when you are away']);
    const consentShot = await saveScreenshot(page, 'consent-phone');
    expect(consentShot.bytes).toBeGreaterThan(0);

    await page.getByRole('button', { name: 'Allow' }).click();
    const callback = await arriveAtCallback(page, rp);
    expect(callback.searchParams.get('iss')).toBe(gatehouse.issuer);

    const { tokens, claims } = await rp.finishLogin(callback);
    expect(claims.sub).toBe(user.id);
    expect(claims.iss).toBe(gatehouse.issuer);
    expect(claims.aud).toBe(rp.clientId);
    expect(claims.nonce).toBe(login.nonce);
    expect(claims.amr).toContain('pwd');
    expect(claims.acr).toBe('urn:gatehouse:acr:pwd');
    expect(typeof claims.auth_time).toBe('number');
    expect(Math.abs((claims.auth_time as number) - Date.now() / 1000)).toBeLessThan(120);
    // OIDC Core §5.4: with response_type=code, claims of the profile/email scopes come
    // from the UserInfo endpoint, not the ID token (oidc-provider's conformIdTokenClaims
    // default, which Gatehouse keeps). Checked on UserInfo below.
    expect(claims.email).toBeUndefined();
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope?.split(' ').sort()).toEqual(everything.split(' ').sort());

    const info = await rp.userinfo(tokens.access_token, user.id);
    expect(info.email).toBe(`${user.username}@example.test`);
    expect(info.email_verified).toBe(true);
    expect(info.preferred_username).toBe(user.username);

    const refreshed = await rp.refresh(tokens.refresh_token!);
    expect(refreshed.access_token).toBeTruthy();
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(refreshed.claims()?.sub).toBe(user.id);
    expect((await rp.userinfo(refreshed.access_token, user.id)).sub).toBe(user.id);

    expect(allProblems(problems)).toEqual([]);
  });

  it('does not ask a first-party client for consent', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty({ name: 'Gatehouse Console', firstParty: true });
    const { page, problems } = await session();

    const login = await rp.beginLogin({ scope: 'openid profile email' });
    await page.goto(login.url);
    await fillLogin(page, user.username, user.password);
    const visited: string[] = [];
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) visited.push(new URL(frame.url()).pathname);
    });
    await submitLogin(page);
    const callback = await arriveAtCallback(page, rp);
    // Login POST → /auth resume → callback, with no interaction page in between.
    expect(visited.filter((p) => p.startsWith('/interaction/'))).toEqual([]);

    const { claims } = await rp.finishLogin(callback);
    expect(claims.sub).toBe(user.id);
    expect(allProblems(problems)).toEqual([]);
  });

  it('rejects a wrong password with 401, keeps the username and clears the password', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty();
    const { page, problems } = await session();

    await page.goto((await rp.beginLogin()).url);
    await fillLogin(page, user.username, 'not the right password at all');
    const posted = await submitLogin(page);
    expect(posted.status()).toBe(401);

    const alert = page.getByRole('alert');
    expect(await alert.innerText()).toBe('Username or password is incorrect.');
    expect(await page.getByLabel('Username or email').inputValue()).toBe(user.username);
    expect(await page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    expect(await page.getByLabel('Username or email').getAttribute('aria-describedby')).toBe('form-error');

    // The form still works after the error.
    await fillLogin(page, user.username, user.password);
    expect((await submitLogin(page)).status()).toBe(303);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();

    expect(problems.cspViolations).toEqual([]);
    expect(problems.pageErrors).toEqual([]);
    // Chromium reports the 401 document load itself as a console error; nothing else may appear.
    expect(problems.consoleErrors.filter((m) => !/status of 401/.test(m))).toEqual([]);
  });

  it('delivers the code with response_mode=form_post: the page may submit to the registered redirect URI only', async () => {
    const posts: Array<{ path: string; body: URLSearchParams }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        if (req.method === 'POST') posts.push({ path: req.url ?? '', body: new URLSearchParams(body) });
        res.writeHead(req.method === 'POST' ? 200 : 204, { 'content-type': 'text/plain' });
        res.end(req.method === 'POST' ? 'received' : undefined);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    suite.closeAfterTest({ close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }) });
    const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cb`;
    const client = await gatehouse.createClient({ type: 'confidential', name: 'Form Post RP', firstParty: true, redirectUris: [redirectUri] });
    const user = await gatehouse.createUser();
    const state = randomBytes(12).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${gatehouse.issuer}/auth`);
    for (const [k, v] of Object.entries({
      client_id: client.clientId, response_type: 'code', response_mode: 'form_post', scope: 'openid', redirect_uri: redirectUri, state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    })) url.searchParams.set(k, v);
    const { page, problems } = await session();

    await page.goto(url.href);
    await fillLogin(page, user.username, user.password);
    const [formPage] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname.startsWith('/auth/')),
      page.getByRole('button', { name: 'Sign in' }).click(),
    ]);
    const csp = formPage.headers()['content-security-policy'] ?? '';
    expect(csp).toMatch(new RegExp(`form-action 'self' ${redirectUri.replace(/[.]/g, '\\.')}(;|$)`));
    expect(csp).toMatch(/script-src 'self' 'sha256-/);
    await expect.poll(() => posts.length, { timeout: 10_000 }).toBe(1);
    expect(posts[0]!.path).toBe('/cb');
    expect(posts[0]!.body.get('state')).toBe(state);
    expect(posts[0]!.body.get('code')).toMatch(/^[\w-]{20,}$/);
    expect(problems.cspViolations).toEqual([]);
  });

  it('answers a disabled account\'s right password as a wrong one', async () => {
    const user = await gatehouse.createUser();
    await gatehouse.app.services.accounts.setDisabled(operator, user.username, true);
    const rp = await relyingParty();
    const { page, problems } = await session();

    await page.goto((await rp.beginLogin()).url);
    await fillLogin(page, user.username, user.password);
    const posted = await submitLogin(page);
    expect(posted.status()).toBe(401);
    expect(await page.getByRole('alert').innerText()).toContain('Username or password is incorrect.');
    expect(await page.getByLabel('Password', { exact: true }).inputValue()).toBe('');
    expect(problems.cspViolations).toEqual([]);
  });

  it('Cancel returns to the RP with access_denied', async () => {
    const rp = await relyingParty();
    const { page, problems } = await session();

    const login = await rp.beginLogin({ scope: 'openid email' });
    await page.goto(login.url);
    await page.getByRole('button', { name: 'Cancel and return to the application' }).click();
    const callback = await arriveAtCallback(page, rp);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(login.state);
    expect(callback.searchParams.has('code')).toBe(false);

    await expect(rp.finishLogin(callback)).rejects.toMatchObject({ error: 'access_denied' });
    expect(allProblems(problems)).toEqual([]);
  });

  it('works without JavaScript', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty();
    const { page, problems } = await session({ javaScriptEnabled: false });

    await page.goto((await rp.beginLogin({ scope: 'openid email', extraParams: { prompt: 'consent' } })).url);
    await fillLogin(page, user.username, user.password);
    await submitLogin(page);
    await page.getByRole('button', { name: 'Allow' }).click();
    const callback = await arriveAtCallback(page, rp);

    const { claims } = await rp.finishLogin(callback);
    expect(claims.sub).toBe(user.id);
    expect(allProblems(problems)).toEqual([]);
  });

  it('escapes a hostile client name on the login, consent and sign-out pages', async () => {
    const hostile = '<script>alert(1)</script>';
    const user = await gatehouse.createUser();
    const rp = await relyingParty({ name: hostile });
    const { page, problems } = await session();

    const response = await page.goto((await rp.beginLogin({ scope: 'openid email' })).url);
    expect(await page.locator('.lead strong').innerText()).toBe(hostile);
    expect(await response!.text()).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(await page.locator('script:not([src^="/static/"])').count()).toBe(0);

    await fillLogin(page, user.username, user.password);
    await submitLogin(page);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(await page.locator('.lead strong').innerText()).toBe(hostile);
    expect(await page.locator('script:not([src^="/static/"])').count()).toBe(0);
    expect(await page.content()).not.toContain(hostile);

    // The sign-out pages name the client too (logout.njk also embeds the library's form unescaped).
    await page.getByRole('button', { name: 'Allow' }).click();
    const { tokens } = await rp.finishLogin(await arriveAtCallback(page, rp));
    await page.goto(rp.endSessionUrl({ id_token_hint: tokens.id_token! }));
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    expect(await page.locator('.lead strong').innerText()).toBe(hostile);
    expect(await page.locator('script:not([src^="/static/"])').count()).toBe(0);
    // "No, stay signed in" signs out of this client only, and the page after it names the client.
    await page.getByRole('button', { name: 'No, stay signed in' }).click();
    await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
    expect(await page.locator('.lead strong').innerText()).toBe(hostile);
    expect(await page.locator('script:not([src^="/static/"])').count()).toBe(0);

    expect(problems.dialogs).toEqual([]);
    expect(allProblems(problems)).toEqual([]);
  });

  it('shows a generic error page with a reference for an unknown interaction', async () => {
    const { page, problems } = await session(phone);
    const rp = await relyingParty();

    const checkErrorPage = async (path: string) => {
      const response = await page.goto(new URL(path, gatehouse.issuer).href);
      expect(response!.status()).toBeGreaterThanOrEqual(400);
      expect(response!.status()).toBeLessThan(500);
      expect(response!.headers()['cache-control']).toBe('no-store');
      await page.getByRole('heading', { name: 'Something went wrong' }).waitFor();
      const requestId = response!.headers()['x-request-id'];
      expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
      const body = await page.locator('body').innerText();
      expect(body).toContain(`Reference: ${requestId}`);
      const html = await response!.text();
      for (const text of [body, html]) {
        expect(text).not.toMatch(/^\s*at\s.+\(?.+:\d+:\d+\)?$/m); // V8 stack frame
        expect(text).not.toMatch(/node_modules|SessionNotFound|oidc-provider|\.ts:\d|\.js:\d|\/work\/|\/src\//);
        expect(text).not.toMatch(/Error: .*\n\s*at /);
      }
      // The detail went to the log, under the same reference.
      await expect.poll(() => gatehouse.logs.some((l) => l.includes(requestId!) && l.includes('request failed'))).toBe(true);
    };

    // No interaction cookie at all.
    await checkErrorPage('/interaction/doesnotexist');
    expect((await saveScreenshot(page, 'error-phone')).bytes).toBeGreaterThan(0);

    // A real interaction URL whose cookie is gone (expired, or the link opened in another browser).
    await page.goto((await rp.beginLogin()).url);
    const interactionPath = new URL(page.url()).pathname;
    expect(interactionPath).toMatch(/^\/interaction\/[A-Za-z0-9_-]+$/);
    await page.context().clearCookies();
    await checkErrorPage(interactionPath);

    // Chromium logs the 4xx document loads as console errors; nothing else may appear.
    expect(problems.consoleErrors.filter((m) => !/status of 4\d\d/.test(m))).toEqual([]);
    expect(problems.cspViolations).toEqual([]);
  });

  it('gives the browser an icon, so no page view ends in a /favicon.ico 404', async () => {
    const rp = await relyingParty();
    const { page } = await session();
    await page.goto((await rp.beginLogin()).url);

    // Chromium uses <link rel="icon"> when the page declares one, else asks for /favicon.ico.
    const icons = page.locator('link[rel~="icon"]');
    const declared = (await icons.count()) > 0 ? await icons.first().getAttribute('href') : null;
    const iconUrl = new URL(declared ?? '/favicon.ico', page.url());
    if (iconUrl.protocol === 'data:') return;
    const response = await page.request.get(iconUrl.href);
    expect(response.status(), `GET ${iconUrl.pathname} (declared: ${declared ?? 'no <link rel="icon">'})`).toBeLessThan(300);
  });

  it('RP-initiated logout ends the session: prompt=none then needs a login', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty({ firstParty: true });
    const { page, problems } = await session(phone);

    await page.goto((await rp.beginLogin({ scope: 'openid email' })).url);
    await fillLogin(page, user.username, user.password);
    await submitLogin(page);
    const { tokens } = await rp.finishLogin(await arriveAtCallback(page, rp));

    // Control: while signed in, prompt=none succeeds silently.
    await page.goto((await rp.beginLogin({ scope: 'openid email', extraParams: { prompt: 'none' } })).url);
    const silent = await arriveAtCallback(page, rp);
    expect(silent.searchParams.get('error')).toBeNull();
    expect((await rp.finishLogin(silent)).claims.sub).toBe(user.id);

    const state = 'logout-state-123';
    await page.goto(rp.endSessionUrl({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: rp.postLogoutRedirectUri, state }));
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    expect((await saveScreenshot(page, 'logout-phone')).bytes).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL((url) => rp.isPostLogout(url));
    expect(new URL(page.url()).searchParams.get('state')).toBe(state);
    expect(rp.logouts).toHaveLength(1);

    const again = await rp.beginLogin({ scope: 'openid email', extraParams: { prompt: 'none' } });
    await page.goto(again.url);
    const callback = await arriveAtCallback(page, rp);
    expect(callback.searchParams.get('error')).toBe('login_required');
    await expect(rp.finishLogin(callback)).rejects.toMatchObject({ error: 'login_required' });

    expect(allProblems(problems)).toEqual([]);
  });
});
