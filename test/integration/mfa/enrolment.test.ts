/**
 * Enrolment during sign-in (QR code, setup key, otpauth URI, confirmation
 * with a current code) and recovery codes: shown once, single-use, and
 * replaced by regeneration.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { qrDataUrl } from '../../../src/mfa/totp.js';
import { acrMfa, countStatuses, enrolTotp, SignIn, startTestBed, totp, wrongCode, type TestBed } from './sign-in-flow.js';

describe('enrolment during sign-in', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await startTestBed({ GATEHOUSE_TOTP_ISSUER: 'Acme Identity' });
  });
  afterAll(() => bed?.gh.close());

  const askForMfa = { params: { acr_values: acrMfa } };

  it('shows a QR code, the setup key and the otpauth URI, all for the same seed, under the page CSP', async () => {
    const user = await bed.gh.createUser();
    const signIn = await SignIn.begin(bed, askForMfa);
    await signIn.password(user);
    expect(signIn.title).toBe('Set up two-step verification');
    const { page } = signIn;
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("img-src 'self' data:");
    expect(csp).not.toContain('unsafe-inline');
    // Nothing inline that the CSP would block: no script, no style attribute, no inline SVG.
    expect(signIn.html).not.toMatch(/<script|\sstyle=|<style|<svg/i);

    const seed = signIn.enrolmentSeed;
    expect(seed).toMatch(/^[A-Z2-7]{32}$/); // 20 bytes, base32
    const uri = /id="totp-uri">([^<]+)</.exec(signIn.html)![1]!.replace(/&amp;/g, '&');
    expect(uri).toBe(`otpauth://totp/Acme%20Identity:${user.username}?secret=${seed}&issuer=Acme%20Identity`);
    const qr = /<img class="qr" src="([^"]+)"[^>]*alt="([^"]+)"/.exec(signIn.html)!;
    expect(qr[1]).toBe(await qrDataUrl(uri));
    expect(qr[1]).toMatch(/^data:image\/png;base64,/);
    expect(qr[2]).toBe(`QR code that adds ${user.username} to an authenticator app`);
    expect(signIn.html).toMatch(/<input id="code" name="code" type="text" class="otp" inputmode="numeric" autocomplete="one-time-code"/);

    // The seed belongs to this sign-in: a reload shows the same one, another sign-in a new one.
    const reload = await signIn.agent.request(signIn.interactionUrl);
    expect(reload.body).toContain(`id="totp-secret">${seed.replace(/(.{4})(?=.)/g, '$1 ')}<`);
    const other = await SignIn.begin(bed, askForMfa);
    await other.password(user);
    expect(other.enrolmentSeed).not.toBe(seed);
  });

  it('turns the factor on only with a current code, then shows ten recovery codes exactly once', async () => {
    const user = await bed.gh.createUser();
    const signIn = await SignIn.begin(bed, askForMfa);
    await signIn.password(user);
    const seed = signIn.enrolmentSeed;

    expect((await signIn.submit('enrol', { code: 'abc' })).status).toBe(400);
    expect((await signIn.submit('enrol', { code: await wrongCode(seed) })).status).toBe(401);
    expect(signIn.html).toContain('That code did not work.');
    expect(signIn.enrolmentSeed).toBe(seed);
    expect((await bed.gh.app.services.mfa.status(user.id)).enrolled).toBe(false);

    const confirmed = await signIn.submit('enrol', { code: await totp(seed) });
    expect(confirmed.status).toBe(200);
    expect(signIn.title).toBe('Save your recovery codes');
    expect(signIn.html).toContain('This is the only time these codes are shown.');
    const codes = signIn.recoveryCodes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect(await bed.gh.app.services.mfa.status(user.id)).toMatchObject({ enrolled: true, recoveryCodesLeft: 10 });

    // Reloading shows a page without the codes.
    const reload = await signIn.agent.request(signIn.interactionUrl);
    expect(reload.body).toContain('<title>Two-step verification is on · Gatehouse</title>');
    for (const code of codes) expect(reload.body).not.toContain(code);

    await signIn.submit('continue');
    expect((await signIn.tokens()).claims()!).toMatchObject({ sub: user.id, acr: acrMfa, amr: ['pwd', 'otp'] });

    // The code that confirmed the enrolment cannot sign in again.
    const next = await SignIn.begin(bed);
    await next.password(user);
    expect((await next.code(await totp(seed))).status).toBe(401);
  });

  it('refuses to replace a factor set up elsewhere in the meantime', async () => {
    const user = await bed.gh.createUser();
    const signIn = await SignIn.begin(bed, askForMfa);
    await signIn.password(user);
    const seed = signIn.enrolmentSeed;
    await enrolTotp(bed.gh, user.id);
    const answer = await signIn.submit('enrol', { code: await totp(seed) });
    expect(answer.status).toBe(409);
    expect(answer.body).toContain('already set up');
  });
});

describe('recovery codes', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await startTestBed();
  });
  afterAll(() => bed?.gh.close());

  async function atCodePage(user: { username: string; password: string }) {
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    signIn.page = await signIn.agent.request(`${signIn.interactionUrl}/recovery`);
    expect(signIn.title).toBe('Use a recovery code');
    return signIn;
  }

  it('lets a recovery code sign in once and only once', async () => {
    const user = await bed.gh.createUser();
    const { recoveryCodes } = await enrolTotp(bed.gh, user.id);
    const code = recoveryCodes[3]!;

    const first = await atCodePage(user);
    expect(first.html).toMatch(/<input id="code" name="code" type="text" class="otp" autocomplete="off"/);
    // Typed loosely: upper case, spaces instead of the dash.
    expect((await first.submit('recovery', { code: code.toUpperCase().replace('-', ' ') })).status).toBe(303);
    expect(first.title).toBe('Signed in with a recovery code');
    expect(first.html).toContain('You have <strong>9</strong> recovery codes left.');
    await first.submit('continue');
    expect((await first.tokens()).claims()!).toMatchObject({ sub: user.id, acr: acrMfa, amr: ['pwd', 'mfa'] });

    const second = await atCodePage(user);
    expect((await second.submit('recovery', { code })).status).toBe(401);
    expect(second.html).toContain('That recovery code did not work.');
    expect(second.callback).toBeUndefined();
    expect((await bed.gh.app.services.mfa.status(user.id)).recoveryCodesLeft).toBe(9);
  });

  it('spends a code once even when it arrives five times at once', async () => {
    const user = await bed.gh.createUser();
    const { recoveryCodes } = await enrolTotp(bed.gh, user.id);
    const signIns = [];
    // Five: the lockout's limit, so every one of them is checked.
    for (let i = 0; i < 5; i += 1) signIns.push(await atCodePage(user));
    const answers = await Promise.all(signIns.map((s) => s.submit('recovery', { code: recoveryCodes[0]! })));
    expect(countStatuses(answers)).toEqual({ 303: 1, 401: 4 });
    expect((await bed.gh.app.services.mfa.status(user.id)).recoveryCodesLeft).toBe(9);
  });

  it('refuses malformed recovery codes with 400', async () => {
    const user = await bed.gh.createUser();
    await enrolTotp(bed.gh, user.id);
    const signIn = await atCodePage(user);
    for (const bad of ['', 'short', 'abcde-fghjk-mnpqr', '!!!!!-?????', 'x'.repeat(5000)]) {
      expect((await signIn.submit('recovery', { code: bad })).status, bad.slice(0, 20)).toBe(400);
    }
    expect((await bed.gh.app.services.lockout.status(user.id)).failures).toBe(0);
  });

  it('replaces every old code when new ones are created', async () => {
    const user = await bed.gh.createUser();
    const { recoveryCodes: old } = await enrolTotp(bed.gh, user.id);
    const signIn = await atCodePage(user);
    await signIn.submit('recovery', { code: old[0]! });
    const regenerated = await signIn.submit('recovery-codes');
    expect(regenerated.status).toBe(200);
    expect(signIn.title).toBe('Save your recovery codes');
    expect(signIn.html).toContain('Your old recovery codes no longer work.');
    const fresh = signIn.recoveryCodes;
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((c) => old.includes(c))).toEqual([]);
    await signIn.submit('continue');
    expect((await signIn.tokens()).claims()!.acr).toBe(acrMfa);
    expect((await bed.gh.app.services.mfa.status(user.id)).recoveryCodesLeft).toBe(10);

    const withOld = await atCodePage(user);
    expect((await withOld.submit('recovery', { code: old[1]! })).status).toBe(401);
    const withNew = await atCodePage(user);
    expect((await withNew.submit('recovery', { code: fresh[0]! })).status).toBe(303);
  });
});
