/**
 * First run in a real Chromium (issue 16 §4): the link the start-up prints,
 * the form with its QR code and setup key, a code from the authenticator app,
 * the recovery codes; keyboard-only labels and no CSP violation on the way.
 * Then the new administrator signs in with password and code.
 */
import { generate } from 'otplib';
import { beforeAll, describe, expect, it } from 'vitest';

import { allProblems, saveScreenshot } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';

const suite = browserSuite();
let gatehouse: TestGatehouse;
beforeAll(() => {
  gatehouse = suite.gatehouse;
});

describe('first-run setup in Chromium', () => {
  it('creates the first administrator from the link, then the link is spent', async () => {
    const link = await gatehouse.app.services.setup.issueLink();
    const { page, problems } = await suite.session();
    await page.goto(`${gatehouse.issuer}/setup?token=${link!.token}`);
    // The token left the address bar at once.
    expect(new URL(page.url()).search).toBe('');
    await expect.poll(() => page.title()).toContain('Create the first administrator');
    await saveScreenshot(page, 'first-run-setup');

    await page.getByLabel('Username').fill('first-admin');
    await page.getByLabel('Email (optional)').fill('first@example.com');
    await page.getByLabel('Password (at least 12 characters)').fill('correct horse battery staple');
    await page.getByLabel('The same password again').fill('correct horse battery staple');
    // A wrong code keeps what was typed and says why.
    await page.getByLabel('Enter the 6-digit code the app shows').fill('000000');
    await page.getByRole('button', { name: 'Create the administrator' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not the one your authenticator app shows');
    expect(await page.getByLabel('Username').inputValue()).toBe('first-admin');

    const seed = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    await page.getByLabel('Password (at least 12 characters)').fill('correct horse battery staple');
    await page.getByLabel('The same password again').fill('correct horse battery staple');
    await page.getByLabel('Enter the 6-digit code the app shows').fill(await generate({ secret: seed }));
    await page.getByRole('button', { name: 'Create the administrator' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Administrator created');
    expect(await page.getByRole('list', { name: 'Recovery codes' }).locator('li').count()).toBeGreaterThanOrEqual(8);

    const account = await gatehouse.app.services.accounts.find('first-admin');
    expect(account?.admin).toBe(true);
    expect(await gatehouse.app.services.mfa.hasFactor(account!.id)).toBe(true);

    // Reloading the link now shows the plain "does not work" page.
    const again = await page.goto(`${gatehouse.issuer}/setup?token=${link!.token}`);
    expect(again?.status()).toBe(410);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('This setup link does not work');
    expect(allProblems(problems).filter((m) => !/status of 4(00|10)/.test(m))).toEqual([]);
  });

  it('shows a start page at /', async () => {
    const { page, problems } = await suite.session();
    const response = await page.goto(`${gatehouse.issuer}/`);
    expect(response?.status()).toBe(200);
    await expect.poll(() => page.getByRole('link', { name: 'OpenID Connect discovery document' }).count()).toBe(1);
    expect(allProblems(problems)).toEqual([]);
  });
});
