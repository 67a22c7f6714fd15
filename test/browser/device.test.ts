/**
 * The device authorization grant (RFC 8628) with a person at a real
 * Chromium: openid-client's device flow polls while the user types the code
 * (lower case, no dash), reads the confirmation that names the device and
 * warns against codes from someone else (§5.4), signs in and consents; the
 * device gets its tokens. Then a wrong code and a cancelled request, as the
 * person sees them. The refusals without a person (expired, replayed,
 * `slow_down`, guessing lockout) are in test/integration/device-flow/.
 */
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { allProblems } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';

const suite = browserSuite({ env: { GATEHOUSE_DEVICE_POLL_INTERVAL: '1s' } });
let gatehouse: TestGatehouse;
let tv: oidc.Configuration;
let tvClientId: string;

beforeAll(async () => {
  gatehouse = suite.gatehouse;
  tvClientId = (await gatehouse.createClient({ type: 'public', name: 'Living-room TV', deviceFlow: true, scope: 'openid profile' })).clientId;
  tv = await oidc.discovery(new URL(gatehouse.issuer), tvClientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
});

async function typeCode(page: Page, code: string) {
  await page.goto(new URL('/device', gatehouse.issuer).href);
  await expect.poll(() => page.title()).toBe('Connect a device · Gatehouse');
  await page.getByLabel('Code').fill(code);
  await page.getByRole('button', { name: 'Continue' }).click();
}

describe('device flow in the browser', () => {
  it('the user types the code, confirms the named device, signs in and consents; openid-client gets the tokens', async () => {
    const user = await gatehouse.createUser();
    const { page, problems } = await suite.session();
    const started = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid profile' });
    const polling = oidc.pollDeviceAuthorizationGrant(tv, started);

    await typeCode(page, started.user_code.replace('-', '').toLowerCase());
    await expect.poll(() => page.title()).toBe('Connect Living-room TV? · Gatehouse');
    expect(await page.locator('.code code').innerText()).toBe(started.user_code);
    expect(await page.getByRole('alert').innerText()).toContain('If someone sent you this code');
    await page.getByRole('button', { name: 'Continue and sign in' }).click();

    await expect.poll(() => page.title()).toBe('Sign in · Gatehouse');
    await page.getByLabel('Username or email').fill(user.username);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await expect.poll(() => page.getByRole('heading').first().innerText()).toBe('Device connected');
    expect(await page.locator('.lead').innerText()).toContain('Living-room TV');

    const tokens = await polling;
    expect(tokens.claims()).toMatchObject({ sub: user.id, aud: tvClientId, iss: gatehouse.issuer });
    expect(await oidc.fetchUserInfo(tv, tokens.access_token, user.id)).toMatchObject({ sub: user.id });
    expect(allProblems(problems)).toEqual([]);
    expect(problems.cspViolations).toEqual([]);
  });

  it('a wrong code is refused on the page; cancelling tells the device access_denied', async () => {
    const { page, problems } = await suite.session();
    await typeCode(page, 'BCDF-GHJK');
    await expect.poll(() => page.getByRole('alert').innerText()).toBe('That code is not right. Check it against your device and try again.');
    expect(await page.getByLabel('Code').isVisible()).toBe(true);

    const started = await oidc.initiateDeviceAuthorization(tv, { scope: 'openid' });
    const polling = oidc.pollDeviceAuthorizationGrant(tv, started);
    // Attach the handler now: the rejection may come before the page is done.
    const refused = polling.then(
      () => undefined,
      (error: unknown) => error,
    );
    await typeCode(page, started.user_code);
    await page.getByRole('button', { name: 'Cancel: I did not start this' }).click();
    expect(await refused).toMatchObject({ error: 'access_denied' });
    expect(allProblems(problems)).toEqual([]);
    expect(problems.cspViolations).toEqual([]);
  });
});
