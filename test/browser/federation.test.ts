/**
 * Sign-in through an upstream OpenID provider (issue 20) in a real Chromium:
 * the programmable upstream on loopback (test/support/upstream.ts) signs real
 * ID tokens; Gatehouse is its relying party (openid-client), and a real
 * relying party of Gatehouse's (openid-client) gets the Gatehouse ID token at
 * the end. From the login page's button and by home-realm discovery, with
 * consent; and the nOAuth negative: an unverified email never links.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../src/audit/events.js';
import type { NewUpstream } from '../../src/federation/schemas.js';
import { allProblems } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.js';
import { startTestUpstream, type TestUpstream, type UpstreamUser } from '../support/upstream.js';

const suite = browserSuite({ env: { GATEHOUSE_FEDERATION_ALLOW_HTTP_LOOPBACK: 'true' } });
let gatehouse: TestGatehouse;
let upstream: TestUpstream;
let counter = 0;
beforeAll(async () => {
  gatehouse = suite.gatehouse;
  upstream = await startTestUpstream();
});
afterAll(() => upstream?.close());

async function relyingParty(): Promise<RelyingParty> {
  const rp = await startRelyingParty({
    issuer: gatehouse.issuer,
    register: (uris) => gatehouse.createClient({ type: 'confidential', name: 'Acme Notes', redirectUris: [uris.redirectUri], postLogoutRedirectUris: [uris.postLogoutRedirectUri] }),
  });
  suite.closeAfterTest(rp);
  return rp;
}

async function addUpstream(overrides: Partial<NewUpstream> = {}) {
  counter += 1;
  return gatehouse.app.services.upstreams.create(operator, { name: `corp${counter}`, displayName: `Corp SSO ${counter}`, issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret, linking: 'jit-create', ...overrides });
}

function person(extra: Partial<UpstreamUser> = {}): UpstreamUser {
  counter += 1;
  return { sub: `browser-${counter}-${Math.random().toString(36).slice(2)}`, email: `person${counter}@corp.example`, email_verified: true, name: `Person ${counter}`, ...extra };
}

/** Consent, then the RP's callback: returns the RP's validated result. */
async function consentAndArrive(page: Page, rp: RelyingParty) {
  await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL((url) => rp.isCallback(url));
  return rp.finishLogin(new URL(page.url()));
}

describe('browser sign-in through an upstream', () => {
  it('from the login page button: upstream, consent, and a Gatehouse ID token with amr fed at the RP', async () => {
    const corp = await addUpstream();
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    const user = person({ name: 'Ada Upstream' });
    upstream.next(user);
    const login = await rp.beginLogin({ scope: 'openid profile email' });
    await page.goto(login.url);
    await page.getByRole('navigation', { name: 'Other ways to sign in' }).getByRole('link', { name: corp.displayName }).click();
    const { tokens, claims } = await consentAndArrive(page, rp);
    expect(claims.iss).toBe(gatehouse.issuer);
    expect(claims.aud).toBe(rp.clientId);
    expect(claims.nonce).toBe(login.nonce);
    expect(claims.amr).toEqual(['fed']);
    const account = await gatehouse.app.services.accounts.findById(claims.sub);
    expect(account?.email).toBe(user.email);
    const info = await rp.userinfo(tokens.access_token, claims.sub);
    expect(info).toMatchObject({ email: user.email, email_verified: true, name: 'Ada Upstream' });
    // The upstream was asked with PKCE, state and nonce, and the link is (issuer, subject).
    expect(upstream.authorizations.at(-1)!.get('code_challenge_method')).toBe('S256');
    expect(await gatehouse.app.services.federationLinks.forAccount(claims.sub)).toEqual([expect.objectContaining({ issuer: upstream.issuer, subject: user.sub, upstream: corp.name })]);
    expect(allProblems(problems)).toEqual([]);
  });

  it('by home-realm discovery: an email in the upstream\'s domain goes straight there', async () => {
    const domain = `realm${counter}.example`;
    await addUpstream({ domains: [domain] });
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    const user = person({ email: `grace@${domain}` });
    upstream.next(user);
    await page.goto((await rp.beginLogin({ scope: 'openid email' })).url);
    await page.getByLabel('Username or email').fill(user.email!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const { tokens, claims } = await consentAndArrive(page, rp);
    expect(claims.amr).toEqual(['fed']);
    expect((await rp.userinfo(tokens.access_token, claims.sub)).email).toBe(user.email);
    expect(upstream.authorizations.at(-1)!.get('client_id')).toBe(upstream.clientId);
    expect(allProblems(problems)).toEqual([]);
  });

  it('an unverified email matching an existing account never links, even where verified emails are trusted', async () => {
    const corp = await addUpstream({ linking: 'link-by-verified-email-when-trusted' });
    const local = await gatehouse.createUser();
    const rp = await relyingParty();
    const { page } = await suite.session();
    upstream.next(person({ email: `${local.username}@example.test`, email_verified: false }));
    await page.goto((await rp.beginLogin({ scope: 'openid email' })).url);
    await page.getByRole('link', { name: corp.displayName }).click();
    await expect.poll(() => page.locator('#form-error').innerText()).toBe('An account with your email address already exists. Sign in with your password instead.');
    expect(new URL(page.url()).origin).toBe(gatehouse.issuer);
    expect(rp.callbacks).toHaveLength(0);
    expect(await gatehouse.app.services.federationLinks.forAccount(local.id)).toEqual([]);
  });
});
