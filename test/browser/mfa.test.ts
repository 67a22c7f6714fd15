/**
 * Two-step verification in a real Chromium: a user enrols during sign-in
 * (reading the setup key off the page and computing codes with otplib, as an
 * authenticator app would), then signs in with password and code; an
 * openid-client relying party checks the ID token says so.
 */
import { generate } from 'otplib';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { allProblems, phone, saveScreenshot } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.js';
import { operator } from '../../src/audit/events.js';

const acrMfa = 'urn:gatehouse:acr:mfa';

const suite = browserSuite({ env: { GATEHOUSE_TOTP_ISSUER: 'Gatehouse Test' } });
let gatehouse: TestGatehouse;
beforeAll(() => {
  gatehouse = suite.gatehouse;
});
const session = suite.session;

async function relyingParty(): Promise<RelyingParty> {
  const rp = await startRelyingParty({
    issuer: gatehouse.issuer,
    register: (uris) => gatehouse.createClient({ type: 'confidential', name: 'Acme Notes', firstParty: true, redirectUris: [uris.redirectUri] }),
  });
  suite.closeAfterTest(rp);
  return rp;
}

/** Submits the form of `button` and returns the response to that POST. */
async function submit(page: Page, button: string) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.startsWith('/interaction/')),
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

const codeFor = (secret: string, offsetSteps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });

describe('two-step verification in the browser', () => {
  it('enrols during sign-in, then signs in with password and code; the RP gets amr otp and acr mfa', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty();

    // 1. The relying party asks for multi-factor; the user has none yet, so enrolment follows the password.
    const { page, problems } = await session(phone);
    const login = await rp.beginLogin({ scope: 'openid profile', extraParams: { acr_values: acrMfa } });
    await page.goto(login.url);
    await signInWithPassword(page, user);
    await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
    expect(await page.locator('.lead strong').innerText()).toBe('Acme Notes');

    // The QR code is a data: image the CSP allows, and it actually rendered.
    const qr = page.getByRole('img', { name: `QR code that adds ${user.username} to an authenticator app` });
    await expect.poll(() => qr.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).naturalWidth)).toBeGreaterThan(100);
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.getByText('Show the setup link').click();
    expect(await page.locator('#totp-uri').innerText()).toBe(`otpauth://totp/Gatehouse%20Test:${user.username}?secret=${secret}&issuer=Gatehouse%20Test`);
    const codeInput = page.getByLabel('Enter the 6-digit code the app shows');
    expect(await codeInput.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await codeInput.getAttribute('inputmode')).toBe('numeric');
    expect((await saveScreenshot(page, 'mfa-enrol-phone')).bytes).toBeGreaterThan(0);

    // A wrong code first: 401, a readable error, and the form still there.
    await codeInput.fill('000000' === (await codeFor(secret)) ? '111111' : '000000');
    expect((await submit(page, 'Turn on two-step verification')).status()).toBe(401);
    expect(await page.getByRole('alert').innerText()).toContain('That code did not work.');

    await page.getByLabel('Enter the 6-digit code the app shows').fill(await codeFor(secret));
    expect((await submit(page, 'Turn on two-step verification')).status()).toBe(200);
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    const codes = await page.locator('ol.codes code').allInnerTexts();
    expect(codes).toHaveLength(10);
    expect(await page.getByRole('status').innerText()).toContain('This is the only time these codes are shown.');
    expect((await saveScreenshot(page, 'mfa-recovery-codes-phone')).bytes).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'I have saved my codes, continue' }).click();

    const enrolled = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(enrolled.claims.sub).toBe(user.id);
    expect(enrolled.claims.amr).toEqual(['pwd', 'otp']);
    expect(enrolled.claims.acr).toBe(acrMfa);
    expect(allProblems(problems).filter((m) => !/status of 401/.test(m))).toEqual([]);
    expect(problems.cspViolations).toEqual([]);

    // 2. A fresh browser, no acr_values: the account has a factor now, so the code page follows the password.
    const second = await session();
    await second.page.goto((await rp.beginLogin({ scope: 'openid' })).url);
    await signInWithPassword(second.page, user);
    await second.page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    const code = second.page.getByLabel('6-digit code');
    expect(await code.getAttribute('autocomplete')).toBe('one-time-code');
    expect(await code.getAttribute('inputmode')).toBe('numeric');
    expect(await code.getAttribute('autofocus')).not.toBeNull();
    expect((await saveScreenshot(second.page, 'mfa-code')).bytes).toBeGreaterThan(0);
    // The enrolment spent this step's code; the authenticator's next one is good.
    await code.fill(await codeFor(secret, 1));
    expect((await submit(second.page, 'Verify')).status()).toBe(303);

    const { claims } = await rp.finishLogin(await arriveAtCallback(second.page, rp));
    expect(claims.sub).toBe(user.id);
    expect(claims.amr).toContain('otp');
    expect(claims.acr).toBe(acrMfa);
    expect(allProblems(second.problems)).toEqual([]);
  });

  it('signs in with a recovery code, without JavaScript', async () => {
    const user = await gatehouse.createUser();
    const seed = gatehouse.app.services.mfa.newSeed();
    const enrolment = await gatehouse.app.services.mfa.confirmEnrolment(operator, user.id, seed, await codeFor(seed, -1));
    if (!enrolment.ok) throw new Error(enrolment.reason);
    const rp = await relyingParty();
    const { page, problems } = await session({ javaScriptEnabled: false });

    await page.goto((await rp.beginLogin()).url);
    await signInWithPassword(page, user);
    await page.getByRole('link', { name: 'Use a recovery code instead' }).click();
    await page.getByRole('heading', { name: 'Use a recovery code' }).waitFor();
    await page.getByLabel('Recovery code').fill(enrolment.recoveryCodes[0]!);
    expect((await submit(page, 'Verify')).status()).toBe(303);
    await page.getByRole('heading', { name: 'Signed in with a recovery code' }).waitFor();
    expect(await page.locator('.lead').innerText()).toContain('You have 9 recovery codes left.');
    await page.getByRole('button', { name: 'Continue to Acme Notes' }).click();

    const { claims } = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(claims).toMatchObject({ sub: user.id, acr: acrMfa, amr: ['pwd', 'mfa'] });
    expect(allProblems(problems)).toEqual([]);
  });
});
