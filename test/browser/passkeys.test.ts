/**
 * Passkeys in a real Chromium with the DevTools WebAuthn virtual authenticator
 * (CDP WebAuthn.addVirtualAuthenticator): a passkey created during sign-in
 * when the RP demands phishing resistance; the
 * ID token says acr phr with RFC 8176 amr.
 */
import type { CDPSession, Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

import { allProblems } from '../support/browser.js';
import { browserSuite } from '../support/browser-suite.js';
import type { TestGatehouse } from '../support/gatehouse.js';
import { startRelyingParty, type RelyingParty } from '../support/relying-party.js';

const acrPhr = 'urn:gatehouse:acr:phr';

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

/** A platform authenticator with user verification that answers at once. */
async function virtualAuthenticator(page: Page): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return cdp;
}

async function submit(page: Page, button: string) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.startsWith('/interaction/')),
    page.getByRole('button', { name: button }).click(),
  ]);
  return response;
}

describe('passkeys in the browser', () => {
  it('creates a passkey during sign-in when the RP demands acr phr; the ID token says phr with RFC 8176 amr', async () => {
    const user = await gatehouse.createUser();
    const rp = await relyingParty();
    const { page, problems } = await suite.session();
    await virtualAuthenticator(page);

    await page.goto((await rp.beginLogin({ scope: 'openid', extraParams: { acr_values: acrPhr } })).url);
    await page.getByLabel('Username or email').fill(user.username);
    await page.getByLabel('Password', { exact: true }).fill(user.password);
    expect((await submit(page, 'Sign in')).status()).toBe(303);
    await page.getByRole('heading', { name: 'Create a passkey' }).waitFor();
    await page.getByLabel('Name for this passkey (optional)').fill('Test laptop');
    expect((await submit(page, 'Create passkey')).status()).toBe(303);
    await page.waitForURL((url) => rp.isCallback(url));
    const enrolled = await rp.finishLogin(new URL(page.url()));
    expect(enrolled.claims).toMatchObject({ sub: user.id, acr: acrPhr });
    expect(enrolled.claims.amr).toEqual(['pwd', 'pop', 'hwk', 'user']);
    const [passkey] = await gatehouse.app.services.passkeys.list(user.id);
    expect(passkey).toMatchObject({ name: 'Test laptop', deviceType: 'singleDevice' });

    expect(allProblems(problems).filter((m) => !/status of 401/.test(m))).toEqual([]);
  });
});
