/**
 * axe-core on every sign-in page a person meets (issue 16 done-when), in a
 * real Chromium against a real Gatehouse, each page reached the way a person
 * reaches it: the start page; first-run setup, its result and its spent
 * link; login (and its wrong-password answer); consent; two-step enrolment,
 * the recovery codes, the code page, the recovery-code page and its result;
 * the device pages; password recovery; RP-initiated logout and its result;
 * the error page; the console's refusal and signed-out pages. The console's
 * own pages are checked in console-journey.test.ts.
 */
import { generate } from 'otplib';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { axeViolations, expectAccessible } from '../support/axe.js';
import { allProblems } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.js';

const suite = browserSuite({ env: { GATEHOUSE_DEVICE_POLL_INTERVAL: '1s' } });
let gatehouse: TestGatehouse;
beforeAll(() => {
  gatehouse = suite.gatehouse;
});

async function relyingParty(firstParty: boolean): Promise<RelyingParty> {
  const rp = await startRelyingParty({
    issuer: gatehouse.issuer,
    register: (uris) =>
      gatehouse.createClient({ type: 'confidential', name: 'Acme Notes', firstParty, redirectUris: [uris.redirectUri], postLogoutRedirectUris: [uris.postLogoutRedirectUri] }),
  });
  suite.closeAfterTest(rp);
  return rp;
}

async function password(page: Page, user: { username: string; password: string }) {
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

const heading = (page: Page, name: string) => page.getByRole('heading', { level: 1, name }).waitFor();

describe('accessibility of the sign-in pages (axe-core)', () => {
  it('the check itself fails on an unlabelled field, low contrast and a page without lang', async () => {
    const { page } = await suite.session();
    await page.setContent('<html><head><title>x</title></head><body><main><h1>x</h1><input type="text"><p style="color:#bbb;background:#fff">faint</p></main></body></html>');
    const found = (await axeViolations(page)).map((v) => v.split(' ')[0]);
    expect(found).toEqual(expect.arrayContaining(['label', 'color-contrast', 'html-has-lang']));
  });

  it('start page, first-run setup, its result and its spent link', async () => {
    const { page, problems } = await suite.session();
    await page.goto(`${gatehouse.issuer}/`);
    await expectAccessible(page, 'the start page');

    const link = await gatehouse.app.services.setup.issueLink();
    await page.goto(`${gatehouse.issuer}/setup?token=${link!.token}`);
    await expect.poll(() => page.title()).toContain('Create the first administrator');
    await expectAccessible(page, 'setup');
    const seed = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    await page.getByLabel('Username').fill('a11y-admin');
    await page.getByLabel('Password (at least 12 characters)').fill('correct horse battery staple');
    await page.getByLabel('The same password again').fill('correct horse battery staple');
    await page.getByLabel('Enter the 6-digit code the app shows').fill(await generate({ secret: seed }));
    await page.getByRole('button', { name: 'Create the administrator' }).click();
    await heading(page, 'Administrator created');
    await expectAccessible(page, 'setup done');
    await page.goto(`${gatehouse.issuer}/setup?token=${link!.token}`);
    await heading(page, 'This setup link does not work');
    await expectAccessible(page, 'setup gone');
    expect(allProblems(problems).filter((m) => !/status of 410/.test(m))).toEqual([]);
  });

  it('login, a wrong password, consent, logout and the signed-out page', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty(false);
    const { page } = await suite.session();
    await page.goto((await rp.beginLogin({ scope: 'openid email' })).url);
    await heading(page, 'Sign in');
    await expectAccessible(page, 'login');
    await password(page, { ...user, password: 'not the password' });
    await page.getByRole('alert').waitFor();
    await expectAccessible(page, 'login with an error');
    await password(page, user);
    await heading(page, 'Allow access?');
    await expectAccessible(page, 'consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => rp.isCallback(url));
    const { tokens } = await rp.finishLogin(new URL(page.url()));
    await page.goto(rp.endSessionUrl({ id_token_hint: tokens.id_token! }));
    await heading(page, 'Sign out?');
    await expectAccessible(page, 'logout');
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await heading(page, 'You are signed out');
    await expectAccessible(page, 'logged out');
    await page.goto(`${gatehouse.issuer}/interaction/not-an-interaction`);
    await heading(page, 'Something went wrong');
    await expectAccessible(page, 'the error page');
  });

  it('two-step enrolment, recovery codes, the code page, a recovery code and its result', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty(true);
    const { page } = await suite.session();
    await page.goto((await rp.beginLogin({ scope: 'openid', extraParams: { acr_values: 'urn:gatehouse:acr:mfa' } })).url);
    await password(page, user);
    await heading(page, 'Set up two-step verification');
    await expectAccessible(page, 'mfa enrolment');
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    await page.getByLabel('Enter the 6-digit code the app shows').fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) - 30 }));
    await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
    await heading(page, 'Save your recovery codes');
    await expectAccessible(page, 'recovery codes');
    const codes = await page.locator('ol.codes code').allInnerTexts();

    const second = await suite.session();
    await second.page.goto((await rp.beginLogin({ scope: 'openid' })).url);
    await password(second.page, user);
    await heading(second.page, 'Two-step verification');
    await expectAccessible(second.page, 'the code page');
    await second.page.getByRole('link', { name: 'Use a recovery code instead' }).click();
    await heading(second.page, 'Use a recovery code');
    await expectAccessible(second.page, 'the recovery-code page');
    await second.page.getByLabel('Recovery code').fill(codes[0]!);
    await second.page.getByRole('button', { name: 'Verify' }).click();
    await heading(second.page, 'Signed in with a recovery code');
    await expectAccessible(second.page, 'signed in with a recovery code');
  });

  it('the device pages and password recovery', async () => {
    const user = await gatehouse.createUser();
    const tvClientId = (await gatehouse.createClient({ type: 'public', name: 'Living-room TV', deviceFlow: true, scope: 'openid profile' })).clientId;
    const tv = await oidc.discovery(new URL(gatehouse.issuer), tvClientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const started = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid profile' });
    const polling = oidc.pollDeviceAuthorizationGrant(tv, started);
    const { page } = await suite.session();
    await page.goto(`${gatehouse.issuer}/device`);
    await expect.poll(() => page.title()).toBe('Connect a device · Gatehouse');
    await expectAccessible(page, 'device code entry');
    await page.getByLabel('Code').fill(started.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect.poll(() => page.title()).toBe('Connect Living-room TV? · Gatehouse');
    await expectAccessible(page, 'device confirmation');
    await page.getByRole('button', { name: 'Continue and sign in' }).click();
    await password(page, user);
    await page.getByRole('button', { name: 'Allow' }).click();
    await expect.poll(() => page.getByRole('heading').first().innerText()).toBe('Device connected');
    await expectAccessible(page, 'device connected');
    await polling;

    const other = await suite.session();
    await other.page.goto(`${gatehouse.issuer}/recovery`);
    await other.page.getByRole('heading', { level: 1 }).waitFor();
    await expectAccessible(other.page, 'password recovery');
  });

  it('the console refusal and signed-out pages', async () => {
    const plain = await gatehouse.createUser();
    const { page } = await suite.session();
    await page.goto(`${gatehouse.issuer}/console`);
    await password(page, plain);
    await heading(page, 'The console is not available to you');
    await expectAccessible(page, 'console refused');
    await page.goto(`${gatehouse.issuer}/console/signed-out`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    await expectAccessible(page, 'console signed out');
    // The accounts this file made are not administrators by accident.
    expect((await gatehouse.app.services.accounts.findById(plain.id))?.admin).toBe(false);
  });
});
