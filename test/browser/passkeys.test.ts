/**
 * Passkeys in a real Chromium with the DevTools WebAuthn virtual authenticator
 * (CDP WebAuthn.addVirtualAuthenticator): a passkey created during sign-in
 * when the RP demands phishing resistance, then used as the second factor
 * after a password, alone (a discoverable credential, from the button and
 * from the username field's autofill), and for step-up by `acr_values`; a
 * cloned authenticator (its counter gone back) and a removed passkey are
 * refused. A passkey "copied" to another browser is the same private key
 * added to a second virtual authenticator (WebAuthn.getCredentials /
 * addCredential), which is exactly what a cloned authenticator is.
 */
import { generate } from 'otplib';
import type { CDPSession, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../src/audit/events.js';
import { allProblems } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.js';

const acrPhr = 'urn:gatehouse:acr:phr';
const acrMfa = 'urn:gatehouse:acr:mfa';

const suite = browserSuite({ issuerHost: 'localhost' });
let gatehouse: TestGatehouse;
beforeAll(() => {
  gatehouse = suite.gatehouse;
});

async function relyingParty(): Promise<RelyingParty> {
  const rp = await startRelyingParty({
    issuer: gatehouse.issuer,
    register: (uris) => gatehouse.createClient({ type: 'confidential', name: 'Acme Notes', firstParty: true, redirectUris: [uris.redirectUri] }),
  });
  suite.closeAfterTest(rp);
  return rp;
}

/** What CDP's WebAuthn.getCredentials returns: the private key included, so it can be put into another authenticator. */
interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
}

interface Authenticator {
  cdp: CDPSession;
  authenticatorId: string;
}

/** A platform authenticator with user verification that answers at once, optionally holding `credential`. */
async function virtualAuthenticator(page: Page, credential?: VirtualCredential): Promise<Authenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  if (credential) await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
  return { cdp, authenticatorId };
}

async function addCredential(authenticator: Authenticator, credential: VirtualCredential): Promise<void> {
  await authenticator.cdp.send('WebAuthn.addCredential', { authenticatorId: authenticator.authenticatorId, credential });
}

async function credentialsOf(authenticator: Authenticator): Promise<VirtualCredential[]> {
  const { credentials } = await authenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator.authenticatorId });
  return credentials as VirtualCredential[];
}

/** Submits the form of `button` and returns the response to that POST. */
async function submit(page: Page, button: string) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.startsWith('/interaction/') && !r.url().endsWith('-options')),
    page.getByRole('button', { name: button }).click(),
  ]);
  return response;
}

async function signInWithPassword(page: Page, user: { username: string; password: string }) {
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  expect((await submit(page, 'Sign in')).status()).toBe(303);
}

async function arriveAtCallback(page: Page, rp: RelyingParty): Promise<URL> {
  await page.waitForURL((url) => rp.isCallback(url));
  return new URL(page.url());
}

/** Registers a passkey for `user` the way the first test does, and returns its key as the authenticator holds it. */
async function enrolPasskey(user: { username: string; password: string }): Promise<VirtualCredential> {
  const rp = await relyingParty();
  const { page } = await suite.session();
  const authenticator = await virtualAuthenticator(page);
  await page.goto((await rp.beginLogin({ scope: 'openid', extraParams: { acr_values: acrPhr } })).url);
  await signInWithPassword(page, user);
  await page.getByRole('heading', { name: 'Create a passkey' }).waitFor();
  expect((await submit(page, 'Create passkey')).status()).toBe(303);
  await arriveAtCallback(page, rp);
  const [credential] = await credentialsOf(authenticator);
  if (!credential) throw new Error('the virtual authenticator holds no credential after registration');
  return credential;
}

async function auditTypes(accountId: string, type: string): Promise<Array<Record<string, unknown>>> {
  await gatehouse.app.audit.flush();
  const { rows } = await gatehouse.app.db.query<{ detail: Record<string, unknown> }>('SELECT detail FROM audit_events WHERE subject = $1 AND type = $2', [accountId, type]);
  return rows.map((r) => r.detail);
}

const codeFor = (secret: string, offsetSteps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });

describe('passkeys in the browser', () => {
  it('creates a passkey during sign-in when the RP demands acr phr; the ID token says phr with RFC 8176 amr', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    await virtualAuthenticator(page);

    await page.goto((await rp.beginLogin({ scope: 'openid', extraParams: { acr_values: acrPhr } })).url);
    await signInWithPassword(page, user);
    await page.getByRole('heading', { name: 'Create a passkey' }).waitFor();
    await page.getByLabel('Name for this passkey (optional)').fill('Test laptop');
    expect((await submit(page, 'Create passkey')).status()).toBe(303);
    const enrolled = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(enrolled.claims).toMatchObject({ sub: user.id, acr: acrPhr });
    expect(enrolled.claims.amr).toEqual(['pwd', 'pop', 'hwk', 'user']);
    const [passkey] = await gatehouse.app.services.passkeys.list(user.id);
    expect(passkey).toMatchObject({ name: 'Test laptop', deviceType: 'singleDevice' });

    expect(allProblems(problems).filter((m) => !/status of 401/.test(m))).toEqual([]);
  });

  it('asks for the passkey as the second factor after the password; the ID token says phr, pwd + hwk', async () => {
    const user = await gatehouse.createUser();
    const credential = await enrolPasskey(user);
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    // Empty until after the password: holding the key, Chromium's authenticator would answer the login page's autofill by itself.
    const authenticator = await virtualAuthenticator(page);

    await page.goto((await rp.beginLogin({ scope: 'openid' })).url);
    await signInWithPassword(page, user);
    await page.getByRole('heading', { name: 'Use your passkey' }).waitFor();
    await addCredential(authenticator, credential);
    // No TOTP on this account: no code link.
    expect(await page.getByRole('link', { name: /code from your authenticator app/ }).count()).toBe(0);
    expect((await submit(page, 'Use passkey')).status()).toBe(303);
    const { claims } = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(claims).toMatchObject({ sub: user.id, acr: acrPhr, amr: ['pwd', 'pop', 'hwk', 'user'] });
    expect((await gatehouse.app.services.passkeys.list(user.id))[0]!.lastUsedAt).toBeInstanceOf(Date);
    expect(allProblems(problems)).toEqual([]);
  });

  it("signs in without a password from the username field's autofill (conditional UI), which fetches its challenge only then", async () => {
    const user = await gatehouse.createUser();
    const credential = await enrolPasskey(user);
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    await virtualAuthenticator(page, credential);

    const login = await rp.beginLogin({ scope: 'openid' });
    // The autofocused username field starts the conditional request; the virtual authenticator picks its one passkey at once.
    const [options, passwordless] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/passwordless-options')),
      page.waitForResponse((r) => r.url().endsWith('/passwordless')),
      page.goto(login.url),
    ]);
    expect(options.status()).toBe(200);
    expect(options.headers()['cache-control']).toBe('no-store');
    expect(passwordless.status()).toBe(303);
    const { claims } = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(claims).toMatchObject({ sub: user.id, acr: acrPhr, amr: ['pop', 'hwk', 'user', 'mfa'] });
    expect(await auditTypes(user.id, 'mfa.verified')).toContainEqual(expect.objectContaining({ method: 'passkey', passwordless: true }));
    expect(allProblems(problems)).toEqual([]);
  });

  it('signs in without a password from the passkey button, which replaces the autofill request with a new challenge', async () => {
    const user = await gatehouse.createUser();
    const credential = await enrolPasskey(user);
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    const authenticator = await virtualAuthenticator(page);

    const login = await rp.beginLogin({ scope: 'openid' });
    const [autofillOptions] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/passwordless-options')), page.goto(login.url)]);
    const options = (await autofillOptions.json()) as { challenge: string; rpId: string; allowCredentials: unknown[]; userVerification: string };
    expect(options).toMatchObject({ rpId: 'localhost', allowCredentials: [], userVerification: 'required' });
    expect(await page.getByLabel('Username or email').getAttribute('autocomplete')).toBe('username webauthn');

    await addCredential(authenticator, credential);
    const [buttonOptions] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/passwordless-options')),
      page.getByRole('button', { name: 'Continue with a passkey' }).click(),
    ]);
    expect(buttonOptions.status()).toBe(200);
    const { claims } = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(claims).toMatchObject({ sub: user.id, acr: acrPhr, amr: ['pop', 'hwk', 'user', 'mfa'] });
    expect(allProblems(problems)).toEqual([]);
  });

  it('steps an existing password + code session up to phr with acr_values, asking only for the passkey', async () => {
    const user = await gatehouse.createUser();
    const credential = await enrolPasskey(user);
    const seed = gatehouse.app.services.mfa.newSeed();
    const enrolment = await gatehouse.app.services.mfa.confirmEnrolment(operator, user.id, seed, await codeFor(seed, -1));
    if (!enrolment.ok) throw new Error(enrolment.reason);
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    const authenticator = await virtualAuthenticator(page);

    // 1. Password and a TOTP code (the passkey page offers the code instead): acr mfa.
    await page.goto((await rp.beginLogin({ scope: 'openid' })).url);
    await signInWithPassword(page, user);
    await page.getByRole('link', { name: 'Use a code from your authenticator app instead' }).click();
    await page.getByLabel('6-digit code').fill(await codeFor(seed));
    expect((await submit(page, 'Verify')).status()).toBe(303);
    const first = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(first.claims).toMatchObject({ acr: acrMfa, amr: ['pwd', 'otp'] });
    await addCredential(authenticator, credential);

    // 2. The RP demands phishing resistance: no password, no code offered, only the passkey.
    await page.goto((await rp.beginLogin({ scope: 'openid', extraParams: { acr_values: acrPhr } })).url);
    await page.getByRole('heading', { name: 'Use your passkey' }).waitFor();
    expect(await page.getByLabel('Password', { exact: true }).count()).toBe(0);
    expect(await page.getByRole('link', { name: /code from your authenticator app/ }).count()).toBe(0);
    expect(await page.request.get(`${page.url()}/totp`, { maxRedirects: 0 }).then((r) => r.status())).toBe(303);
    expect((await submit(page, 'Use passkey')).status()).toBe(303);
    const stepped = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(stepped.claims).toMatchObject({ sub: user.id, acr: acrPhr });
    expect(stepped.claims.amr).toEqual(expect.arrayContaining(['pwd', 'otp', 'pop', 'hwk']));
    expect(allProblems(problems)).toEqual([]);
  });

  it('refuses a cloned authenticator (its signature counter gone back) and audits it, without retrying it by itself', async () => {
    const user = await gatehouse.createUser();
    const credential = await enrolPasskey(user);
    const rp = await relyingParty();

    // The original signs in (from the autofill), moving the counter past the copy's.
    const original = await suite.session();
    await virtualAuthenticator(original.page, credential);
    await original.page.goto((await rp.beginLogin({ scope: 'openid' })).url);
    await rp.finishLogin(await arriveAtCallback(original.page, rp));

    // The copy still has the counter the key had when it was copied: at or below the last one seen.
    const clone = await suite.session();
    await virtualAuthenticator(clone.page, credential);
    const login = await rp.beginLogin({ scope: 'openid' });
    const [refused] = await Promise.all([clone.page.waitForResponse((r) => r.url().endsWith('/passwordless')), clone.page.goto(login.url)]);
    expect(refused.status()).toBe(401);
    await clone.page.getByRole('alert').filter({ hasText: 'looks like a copy of another' }).waitFor();
    expect(await clone.page.locator('form[data-autofill]').count()).toBe(0);
    expect(await auditTypes(user.id, 'passkey.cloned')).toHaveLength(1);
    expect(await auditTypes(user.id, 'mfa.failed')).toContainEqual(expect.objectContaining({ method: 'passkey', reason: 'cloned' }));
    expect(await gatehouse.app.services.passkeys.list(user.id)).toHaveLength(1);
    expect(allProblems(clone.problems).filter((m) => !/status of 401/.test(m))).toEqual([]);
  });

  it('refuses a removed passkey, with the same words as an unknown one; the password still signs in', async () => {
    const user = await gatehouse.createUser();
    const credential = await enrolPasskey(user);
    const [passkey] = await gatehouse.app.services.passkeys.list(user.id);
    expect(await gatehouse.app.services.passkeys.remove(operator, user.id, passkey!.id)).toBe(true);
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    await virtualAuthenticator(page, credential);

    const login = await rp.beginLogin({ scope: 'openid' });
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/passwordless')), page.goto(login.url)]);
    expect(refused.status()).toBe(401);
    await page.getByRole('alert').filter({ hasText: 'That passkey is not registered here. Sign in with your password.' }).waitFor();
    // The password still works, and asks for no passkey any more.
    await signInWithPassword(page, user);
    const { claims } = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(claims).toMatchObject({ sub: user.id, amr: ['pwd'] });
    expect(allProblems(problems).filter((m) => !/status of 401/.test(m))).toEqual([]);
  });
});
