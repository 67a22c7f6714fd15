/**
 * The admin console in a real Chromium (issue 16): an administrator signs in
 * through Gatehouse's own authorization endpoint with password and TOTP, sees
 * the dashboard with the token requests just made, and disables a user. The
 * page's CSP has no unsafe-inline and nothing violates it; the session
 * cookie is __Host-, HttpOnly and SameSite=Strict; a write without the CSRF
 * token is refused; a non-admin and an admin without a second factor are
 * refused the console.
 */
import { generate } from 'otplib';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../src/audit/events.js';
import { allProblems, saveScreenshot } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';

const suite = browserSuite();
let gatehouse: TestGatehouse;
beforeAll(() => {
  gatehouse = suite.gatehouse;
});

async function enrolTotp(accountId: string): Promise<string> {
  const seed = gatehouse.app.services.mfa.newSeed();
  const previous = await generate({ secret: seed, epoch: Math.floor(Date.now() / 1000) - 30 });
  const result = await gatehouse.app.services.mfa.confirmEnrolment(operator, accountId, seed, previous);
  if (!result.ok) throw new Error(`enrolment failed: ${result.reason}`);
  return seed;
}

async function signIn(page: Page, user: { username: string; password: string }, seed?: string) {
  await page.goto(`${gatehouse.issuer}/console`);
  await page.getByLabel('Username or email').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (seed) {
    await page.getByLabel('6-digit code').fill(await generate({ secret: seed }));
    await page.getByRole('button', { name: 'Verify' }).click();
  }
}

describe('admin console in Chromium', () => {
  it('signs an administrator in with TOTP, shows the traffic, disables a user, and refuses a write without the CSRF token', async () => {
    const admin = await gatehouse.createUser();
    await gatehouse.app.services.accounts.setAdmin(operator, admin.id, true);
    const seed = await enrolTotp(admin.id);
    const target = await gatehouse.createUser();

    // Traffic for the dashboard: five client-credentials tokens, flushed as the timer would.
    const { clientId, clientSecret } = await gatehouse.createClient({ type: 'service', name: 'dashboard traffic' });
    const rp = await oidc.discovery(new URL(gatehouse.issuer), clientId, undefined, oidc.ClientSecretBasic(clientSecret!), { execute: [oidc.allowInsecureRequests] });
    for (let i = 0; i < 5; i += 1) await oidc.clientCredentialsGrant(rp, {});
    await gatehouse.app.services.rollups.flush();

    const { page, context, problems } = await suite.session();
    const consoleAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/console/' && r.status() === 200);
    await signIn(page, admin, seed);
    const shell = await consoleAnswer;
    const csp = shell.headers()['content-security-policy']!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await expect.poll(() => page.locator('dd[data-metric="tokens_issued"]').innerText()).not.toBe('0');
    expect(Number(await page.locator('dd[data-metric="tokens_issued"]').innerText())).toBeGreaterThanOrEqual(5);
    expect(Number(await page.locator('dd[data-metric="sign_ins_succeeded"]').innerText()) + Number(await page.locator('dd[data-metric="active_sessions"]').innerText())).toBeGreaterThan(0);
    // uPlot drew the charts (canvas), and the keys' timeline lists the active key.
    await expect.poll(() => page.locator('.chart canvas').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('.keys .state.active').count()).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Verify now' }).click();
    await expect.poll(() => page.getByTestId('chain').innerText()).toMatch(/^Intact: \d+ rows/);
    await saveScreenshot(page, 'console-overview');

    const cookie = (await context.cookies()).find((c) => c.name === '__Host-gatehouse-console')!;
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    // The token is not in the cookie: the value is an opaque id.
    expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43}$/);

    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByLabel('Username or email').fill(target.username);
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator(`tr[data-user="${target.username}"]`);
    await row.getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => page.getByRole('alertdialog').innerText()).toContain('Every session, grant and token of theirs ends now.');
    await page.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(async () => (await gatehouse.app.services.accounts.findById(target.id))?.disabled).toBe(true);
    await expect.poll(() => row.locator('td').nth(2).innerText()).toBe('disabled');

    // A write without the CSRF token (what a forged request would be) is refused, and changes nothing.
    const forged = await page.evaluate(async (id) => (await fetch(`/console/api/users/${id}/enable`, { method: 'POST' })).status, target.id);
    expect(forged).toBe(403);
    expect((await gatehouse.app.services.accounts.findById(target.id))?.disabled).toBe(true);
    // The disable went through the admin API with the console's actor.
    await gatehouse.app.audit.flush();
    const events = await gatehouse.app.db.query<{ actor: string }>("SELECT actor FROM audit_events WHERE type = 'account.disabled' AND subject = $1", [target.id]);
    expect(events.rows.map((r) => r.actor)).toEqual([`admin:gatehouse-console/${admin.id}`]);
    expect(allProblems(problems).filter((m) => !/status of 403/.test(m))).toEqual([]);
    expect(problems.cspViolations).toEqual([]);
  });

  it('refuses a user who is not an administrator, and an administrator without a second factor', async () => {
    const plain = await gatehouse.createUser();
    const first = await suite.session();
    const refused = first.page.waitForResponse((r) => new URL(r.url()).pathname === '/console/callback');
    await signIn(first.page, plain);
    expect((await refused).status()).toBe(403);
    expect(await first.page.getByRole('heading', { level: 1 }).innerText()).toBe('The console is not available to you');
    expect(await first.page.locator('.lead').innerText()).toContain('not an administrator');
    expect((await first.context.cookies()).some((c) => c.name === '__Host-gatehouse-console')).toBe(false);

    const noFactor = await gatehouse.createUser();
    await gatehouse.app.services.accounts.setAdmin(operator, noFactor.id, true);
    const second = await suite.session();
    const refusedAgain = second.page.waitForResponse((r) => new URL(r.url()).pathname === '/console/callback');
    await signIn(second.page, noFactor);
    expect((await refusedAgain).status()).toBe(403);
    expect(await second.page.locator('.lead').innerText()).toContain('needs two-step verification');
    expect((await second.context.cookies()).some((c) => c.name === '__Host-gatehouse-console')).toBe(false);
    // And the console's API answers nothing without a session.
    const answer = await second.page.evaluate(async () => (await fetch('/console/api/users')).status);
    expect(answer).toBe(401);
  });
});
