/**
 * The emailed flows in a real Chromium against a real Gatehouse, a real SMTP
 * server on loopback that the test reads, and a real relying party: password
 * recovery end to end ("Forgot your password?" → the mail → a new password,
 * a common one refused first → the second factor still asked → signed in;
 * the link dead the second time; an unknown address answered the same), open
 * sign-up from the sign-in page back to the application, and the new-device
 * notice (sent for a new browser, not for a known one).
 */
import { generate } from 'otplib';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../src/audit/events.js';
import { allProblems, phone, saveScreenshot } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.js';
import { linkIn, startSmtpServer } from '../support/smtp.js';

const smtp = await startSmtpServer();
const suite = browserSuite({
  env: {
    GATEHOUSE_SMTP_URL: smtp.url,
    GATEHOUSE_MAIL_FROM: 'Gatehouse <id@example.test>',
    // The loopback test server offers no STARTTLS.
    GATEHOUSE_SMTP_REQUIRE_TLS: 'false',
    GATEHOUSE_SIGNUP: 'open',
    GATEHOUSE_PASSWORD_RESET_LIMIT_IP: '100000/1h',
    GATEHOUSE_SIGNUP_LIMIT_IP: '100000/1h',
  },
});
let gatehouse: TestGatehouse;
beforeAll(() => {
  gatehouse = suite.gatehouse;
});
afterAll(() => smtp.close());
const session = suite.session;

const newPassword = 'lanterns over the quiet harbour';
const codeFor = (secret: string, offsetSteps = 0) => generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });

async function relyingParty(): Promise<RelyingParty> {
  const rp = await startRelyingParty({
    issuer: gatehouse.issuer,
    register: (uris) => gatehouse.createClient({ type: 'confidential', name: 'Acme Notes', firstParty: true, redirectUris: [uris.redirectUri], scope: 'openid email' }),
  });
  suite.closeAfterTest(rp);
  return rp;
}

/** Clicks `button` and returns the response to the POST it sends. */
async function submit(page: Page, button: string) {
  const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: button }).click()]);
  return response;
}

async function signInWithPassword(page: Page, login: string, password: string) {
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  expect((await submit(page, 'Sign in')).status()).toBe(303);
}

async function arriveAtCallback(page: Page, rp: RelyingParty): Promise<URL> {
  await page.waitForURL((url) => rp.isCallback(url));
  return new URL(page.url());
}

/** Asks for a reset link on the "Forgot your password?" page; returns the sentence the page answered with. */
async function askForLink(page: Page, login: string): Promise<string> {
  await page.getByLabel('Username or email').fill(login);
  expect((await submit(page, 'Send the link')).status()).toBe(200);
  const answer = await page.getByRole('status').innerText();
  await gatehouse.app.services.passwordRecovery.idle();
  return answer;
}

describe('email flows in the browser', () => {
  it('recovers a password: the mailed link, a common password refused, the second factor still asked, signed in; the link works once', async () => {
    const user = await gatehouse.createUser();
    const email = `${user.username}@example.test`;
    const seed = gatehouse.app.services.mfa.newSeed();
    const enrolled = await gatehouse.app.services.mfa.confirmEnrolment(operator, user.id, seed, await codeFor(seed, -1));
    expect(enrolled.ok).toBe(true);
    const rp = await relyingParty();
    const { page, problems } = await session(phone);

    await page.goto((await rp.beginLogin({ scope: 'openid' })).url);
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor();
    const knownAnswer = await askForLink(page, email);
    expect(knownAnswer).toContain('a message with a link is on its way');

    const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Reset your password');
    const link = linkIn(mail, `${gatehouse.issuer}/recovery/reset?token=`);
    await page.goto(link);
    // The token left the address bar for a cookie.
    expect(new URL(page.url()).search).toBe('');
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    expect(await page.locator('.lead strong').innerText()).toBe(user.username);
    expect((await saveScreenshot(page, 'recovery-reset-phone')).bytes).toBeGreaterThan(0);

    const fill = async (password: string, code: string) => {
      await page.getByLabel('New password', { exact: true }).fill(password);
      await page.getByLabel('New password again').fill(password);
      await page.getByLabel('Code from your authenticator app, or a recovery code').fill(code);
    };
    await fill('password12345', await codeFor(seed));
    expect((await submit(page, 'Set the new password')).status()).toBe(400);
    expect(await page.getByRole('alert').innerText()).toContain('common or breached passwords');
    // The second factor is still asked: a wrong code is refused and the password stays.
    await fill(newPassword, (await codeFor(seed)) === '000000' ? '111111' : '000000');
    expect((await submit(page, 'Set the new password')).status()).toBe(400);
    expect(await page.getByRole('alert').innerText()).toContain('That code did not work');
    expect((await gatehouse.app.services.accounts.authenticate(user.username, user.password)).ok).toBe(true);
    await fill(newPassword, await codeFor(seed));
    expect((await submit(page, 'Set the new password')).status()).toBe(200);
    await page.getByRole('heading', { name: 'Your password is changed' }).waitFor();

    // Signing in with the new password still asks for the second factor.
    await page.goto((await rp.beginLogin({ scope: 'openid' })).url);
    await signInWithPassword(page, user.username, newPassword);
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await page.getByLabel('6-digit code').fill(await codeFor(seed, 1));
    expect((await submit(page, 'Verify')).status()).toBe(303);
    const { claims } = await rp.finishLogin(await arriveAtCallback(page, rp));
    expect(claims.sub).toBe(user.id);
    expect(claims.amr).toEqual(['pwd', 'otp']);

    // The link does not work a second time, here or in another browser.
    const used = await page.goto(link);
    expect(used?.status()).toBe(410);
    await page.getByRole('heading', { name: 'This reset link does not work' }).waitFor();
    const other = await session();
    expect((await other.page.goto(link))?.status()).toBe(410);

    // An unknown address gets the very same answer, and no mail.
    const stranger = await session();
    await stranger.page.goto(`${gatehouse.issuer}/recovery`);
    const strangerAddress = `nobody-${Date.now()}@example.test`;
    expect(await askForLink(stranger.page, strangerAddress)).toBe(knownAnswer);
    await gatehouse.app.mailWorker!.runOnce();
    expect(smtp.to(strangerAddress)).toHaveLength(0);
    expect(allProblems(problems).filter((m) => !/status of (400|410)/.test(m))).toEqual([]);
    expect(problems.cspViolations).toEqual([]);
  });

  it('signs up from the sign-in page, confirms the address from the mail, and goes on to the application', async () => {
    const rp = await relyingParty();
    const { page, context, problems } = await session();
    await page.goto((await rp.beginLogin({ scope: 'openid email' })).url);
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    const username = `newcomer${Date.now().toString(36)}`;
    const email = `${username}@example.test`;
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill('iloveyou2024');
    expect((await submit(page, 'Create the account')).status()).toBe(400);
    expect(await page.getByRole('alert').innerText()).toContain('common or breached passwords');
    // The form keeps what was typed, but never the password.
    expect(await page.getByLabel('Username').inputValue()).toBe(username);
    expect(await page.getByLabel('Password').inputValue()).toBe('');
    await page.getByLabel('Password').fill(newPassword);
    expect((await submit(page, 'Create the account')).status()).toBe(200);
    expect(await page.getByRole('status').innerText()).toContain('Check your email');
    expect((await saveScreenshot(page, 'signup-sent')).bytes).toBeGreaterThan(0);
    await gatehouse.app.services.signups.idle();

    const mail = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'Confirm your email address');
    const mailbox = await context.newPage();
    await mailbox.goto(linkIn(mail, `${gatehouse.issuer}/verify-email?token=`));
    await mailbox.getByRole('button', { name: 'Confirm' }).click();
    await mailbox.getByRole('heading', { name: 'Address confirmed' }).waitFor();
    await mailbox.close();

    await page.getByRole('link', { name: 'Continue signing in' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await signInWithPassword(page, username, newPassword);
    const { claims, tokens } = await rp.finishLogin(await arriveAtCallback(page, rp));
    const account = (await gatehouse.app.services.accounts.find(username))!;
    expect(claims.sub).toBe(account.id);
    expect(await rp.userinfo(tokens.access_token, account.id)).toMatchObject({ email, email_verified: true });
    expect(allProblems(problems).filter((m) => !/status of 400/.test(m))).toEqual([]);
    expect(problems.cspViolations).toEqual([]);
  });

  it('sends the new-device notice for a new browser, and not for a known one', async () => {
    const user = await gatehouse.createUser();
    const email = `${user.username}@example.test`;
    const rp = await relyingParty();
    const signIn = async (page: Page) => {
      // prompt=login: a browser that is still signed in must go through the password page again.
      await page.goto((await rp.beginLogin({ scope: 'openid', extraParams: { prompt: 'login' } })).url);
      await signInWithPassword(page, user.username, user.password);
      await rp.finishLogin(await arriveAtCallback(page, rp));
    };
    const notices = () => smtp.to(email).filter((m) => m.subject === 'New sign-in to your account');

    const laptop = await session({ userAgent: 'LaptopBrowser/1.0' });
    await signIn(laptop.page);
    await signIn(laptop.page);
    await gatehouse.app.mailWorker!.runOnce();
    // The account's very first device, then the same one: nothing to tell.
    expect(notices()).toHaveLength(0);

    const phoneBrowser = await session({ ...phone, userAgent: 'PhoneBrowser/2.0' });
    await signIn(phoneBrowser.page);
    const notice = await smtp.waitFor((m) => m.to.includes(email) && m.subject === 'New sign-in to your account');
    expect(notice.text).toContain('PhoneBrowser/2.0');

    await signIn(laptop.page);
    await signIn(phoneBrowser.page);
    await gatehouse.app.mailWorker!.runOnce();
    expect(notices()).toHaveLength(1);
  });
});
