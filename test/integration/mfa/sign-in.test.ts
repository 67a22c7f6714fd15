/**
 * Signing in with a password and a TOTP code through the real pages: the
 * ID token's acr/amr, replay of a spent code, the ±1 step window, malformed
 * input, CSRF, and the second-factor page without a password step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { acrMfa, awaitStableStep, enrolTotp, SignIn, startTestBed, totp, type TestBed } from './sign-in-flow.js';

describe('second factor at sign-in', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await startTestBed();
  });
  afterAll(() => bed?.gh.close());

  async function userWithTotp(options: { longAgo?: boolean } = {}) {
    const user = await bed.gh.createUser();
    return { ...user, ...(await enrolTotp(bed.gh, user.id, options)) };
  }

  it('asks an account with TOTP for a code after its password, and the ID token says so', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    expect(signIn.title).toBe('Sign in');

    const posted = await signIn.password(user);
    expect(posted.status).toBe(303);
    // The password alone finished nothing: the next page is the code page of the same interaction.
    expect(signIn.callback).toBeUndefined();
    expect(signIn.title).toBe('Two-step verification');
    expect(signIn.html).toMatch(/<input id="code" name="code" type="text" class="otp" inputmode="numeric" autocomplete="one-time-code"/);
    expect(signIn.html).toContain('<label for="code">');

    expect((await signIn.code(await totp(user.seed))).status).toBe(303);
    const { claims } = { claims: (await signIn.tokens()).claims()! };
    expect(claims.sub).toBe(user.id);
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe(acrMfa);
  });

  it('rejects a code already used, in a second sign-in, and a code from an earlier step', async () => {
    await awaitStableStep();
    const user = await userWithTotp();
    const code = await totp(user.seed);

    const first = await SignIn.begin(bed);
    await first.password(user);
    await first.code(code);
    expect((await first.tokens()).claims()!.amr).toContain('otp');

    const second = await SignIn.begin(bed);
    await second.password(user);
    const before = (await bed.gh.app.services.lockout.status(user.id)).failures;
    const replayed = await second.code(code);
    expect(replayed.status).toBe(401);
    // Said as what it is (RFC 6238 §5.2: one use per code), and not counted as a guess.
    expect(second.html).toContain('That code was already used. Wait for the next code');
    expect(second.html).not.toContain('That code did not work.');
    expect(second.callback).toBeUndefined();
    for (let i = 0; i < 3; i += 1) expect((await second.code(code)).status).toBe(401);
    expect((await bed.gh.app.services.lockout.status(user.id)).failures).toBe(before);
    // The previous step's code is still inside the ±1 window, but earlier than the spent one: that one counts.
    expect((await second.code(await totp(user.seed, -1))).status).toBe(401);
    expect(second.html).toContain('That code did not work.');
    expect((await bed.gh.app.services.lockout.status(user.id)).failures).toBe(before + 1);
    // The next step's code is new: it works.
    expect((await second.code(await totp(user.seed, 1))).status).toBe(303);
    expect((await second.tokens()).claims()!.acr).toBe(acrMfa);
  });

  it('accepts one step either side of now and refuses two', async () => {
    for (const [offset, status] of [[-2, 401], [2, 401], [-1, 303]] as const) {
      await awaitStableStep();
      const user = await userWithTotp({ longAgo: true });
      const signIn = await SignIn.begin(bed);
      await signIn.password(user);
      expect((await signIn.code(await totp(user.seed, offset))).status, `code ${offset} steps away`).toBe(status);
    }
    await awaitStableStep();
    const user = await userWithTotp({ longAgo: true });
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    expect((await signIn.code(await totp(user.seed, 1))).status, 'code 1 step ahead').toBe(303);
  });

  it('answers malformed codes with 400 without counting them as guesses', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    for (const bad of ['abcdef', '1234567', '', '12345', '12 34 5a', '9'.repeat(10_000), '１２３４５６']) {
      const answer = await signIn.code(bad);
      expect(answer.status, JSON.stringify(bad.slice(0, 12))).toBe(400);
      expect(signIn.html).toContain('Enter the 6-digit code from your authenticator app.');
      expect(signIn.html).toContain('aria-describedby="form-error"');
    }
    // A missing field is malformed too.
    expect((await signIn.submit('totp', {})).status).toBe(400);
    expect((await bed.gh.app.services.lockout.status(user.id)).failures).toBe(0);
    // Spaces as authenticator apps show them are fine.
    const code = await totp(user.seed);
    expect((await signIn.code(`${code.slice(0, 3)} ${code.slice(3)}`)).status).toBe(303);
    expect((await signIn.tokens()).claims()!.amr).toEqual(['pwd', 'otp']);
  });

  it('refuses a code form without its CSRF token, or with another interaction\'s', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    const code = await totp(user.seed);
    expect((await signIn.submit('totp', { code }, { csrf: null })).status).toBe(403);

    const other = await SignIn.begin(bed, { agent: signIn.agent });
    const foreign = /name="csrf" value="([^"]+)"/.exec(other.html)![1]!;
    const back = await SignIn.begin(bed);
    await back.password(user);
    expect((await back.submit('totp', { code }, { csrf: foreign })).status).toBe(403);
    expect(back.html).toContain('This form has expired.');
    expect(back.callback).toBeUndefined();
  });

  it('does not accept a code without a password step first', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    expect(signIn.title).toBe('Sign in');
    const csrf = /name="csrf" value="([^"]+)"/.exec(signIn.html)![1]!;
    const path = new URL(signIn.interactionUrl).pathname;
    for (const step of ['totp', 'recovery', 'enrol']) {
      const answer = await signIn.post(`${path}/${step}`, { csrf, code: await totp(user.seed) });
      expect(answer.status, step).toBe(400);
      expect(answer.body).toContain('Sign in with your password first.');
      expect(answer.headers.get('location')).toBeNull();
    }
    for (const step of ['continue', 'recovery-codes']) {
      const answer = await signIn.post(`${path}/${step}`, { csrf });
      expect(answer.status, step).toBeGreaterThanOrEqual(300);
      expect(answer.headers.get('location') ?? '', step).not.toContain('/auth/');
    }
    expect((await bed.gh.app.services.lockout.status(user.id)).failures).toBe(0);
  });

  it('forgets the password step when its state expires, and refuses an expired interaction', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    expect(signIn.title).toBe('Two-step verification');
    const html = signIn.html;

    // The pending second-factor state expires with the interaction; age it alone first.
    await bed.gh.app.db.query("UPDATE mfa_sign_ins SET expires_at = now() - interval '1 second'");
    const stale = await signIn.code(await totp(user.seed));
    expect(stale.status).toBe(400);
    expect(signIn.title).toBe('Sign in');
    const reload = await signIn.agent.request(signIn.interactionUrl);
    expect(reload.body).toContain('<title>Sign in · Gatehouse</title>');

    // Then the interaction itself: the library no longer knows it.
    signIn.page = { ...signIn.page, body: html };
    await bed.gh.app.db.query("UPDATE oidc_models SET expires_at = now() - interval '1 second' WHERE model = 'Interaction'");
    const expired = await signIn.code(await totp(user.seed));
    expect(expired.status).toBe(400);
    expect(expired.body).toContain('This sign-in link has expired');
    expect(signIn.callback).toBeUndefined();
  });

  it('leaves no session behind when the sign-in stops at the code page', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    const silent = await SignIn.begin(bed, { agent: signIn.agent, params: { prompt: 'none' } });
    expect(silent.callback?.searchParams.get('error')).toBe('login_required');
  });

  it('cancelling at the code page returns access_denied and clears the pending step', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    await signIn.submit('abort');
    expect(signIn.callback?.searchParams.get('error')).toBe('access_denied');
    const { rows } = await bed.gh.app.db.query<{ n: number }>('SELECT count(*)::int AS n FROM mfa_sign_ins WHERE account_id = $1', [user.id]);
    expect(rows[0]!.n).toBe(0);
  });

  it('an account without TOTP, and no one asking for it, signs in with its password alone', async () => {
    const user = await bed.gh.createUser();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    const claims = (await signIn.tokens()).claims()!;
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe('urn:gatehouse:acr:pwd');
  });
});
