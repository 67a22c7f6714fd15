/**
 * Who must use a second factor: a request (acr_values), a client
 * (require_mfa), the operator (GATEHOUSE_MFA_REQUIRED), or the account itself
 * (it has one). An existing password-only session is stepped up; prompt=none
 * answers login_required; an account without a factor enrols on the spot.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { acrMfa, acrPwd, enrolTotp, redirectUri, SignIn, startTestBed, totp, type TestBed } from './sign-in-flow.js';
import { operator } from '../../../src/audit/events.js';

async function passwordSession(bed: TestBed, user: { username: string; password: string }): Promise<SignIn> {
  const signIn = await SignIn.begin(bed);
  await signIn.password(user);
  const claims = (await signIn.tokens()).claims()!;
  expect(claims.acr).toBe(acrPwd);
  return signIn;
}

describe('step-up and required second factor', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await startTestBed();
  });
  afterAll(() => bed?.gh.close());

  it('asks a signed-in password-only user for the second factor alone when acr_values asks for mfa', async () => {
    const user = await bed.gh.createUser();
    const first = await passwordSession(bed, user);
    const { seed } = await enrolTotp(bed.gh, user.id);

    // prompt=none cannot step up: the spec's answer is login_required.
    const silent = await SignIn.begin(bed, { agent: first.agent, params: { prompt: 'none', acr_values: acrMfa } });
    expect(silent.callback?.searchParams.get('error')).toBe('login_required');

    const stepUp = await SignIn.begin(bed, { agent: first.agent, params: { acr_values: acrMfa } });
    expect(stepUp.title).toBe('Two-step verification');
    expect(stepUp.html).not.toContain('name="password"');
    expect((await stepUp.code(await totp(seed))).status).toBe(303);
    const claims = (await stepUp.tokens()).claims()!;
    expect(claims.sub).toBe(user.id);
    expect(claims.acr).toBe(acrMfa);
    expect(claims.amr).toEqual(['pwd', 'otp']);

    // The session is multi-factor now: prompt=none with acr_values=mfa succeeds silently.
    const after = await SignIn.begin(bed, { agent: first.agent, params: { prompt: 'none', acr_values: acrMfa } });
    expect(after.callback?.searchParams.get('error')).toBeNull();
    expect((await after.tokens()).claims()!.acr).toBe(acrMfa);
  });

  it('asks for the password again when the session the step-up started from is gone', async () => {
    const user = await bed.gh.createUser();
    const { agent } = await passwordSession(bed, user);
    await enrolTotp(bed.gh, user.id);
    const url = oidc.buildAuthorizationUrl(bed.rp, {
      redirect_uri: redirectUri, scope: 'openid', acr_values: acrMfa, state: 's', nonce: 'n',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    // The authorization request creates the interaction; before its page loads, the browser loses its session.
    const started = await agent.request(url.href);
    expect(started.location).toMatch(/\/interaction\/[A-Za-z0-9_-]+$/);
    for (const name of [...agent.cookies.keys()]) if (name.startsWith('_session')) agent.cookies.delete(name);
    const page = await agent.request(started.location!);
    expect(page.body).toContain('<title>Sign in · Gatehouse</title>');
  });

  it('answers prompt=none with login_required when the session is password-only and mfa is asked for', async () => {
    const user = await bed.gh.createUser();
    const session = await passwordSession(bed, user);
    const silent = await SignIn.begin(bed, { agent: session.agent, params: { prompt: 'none', acr_values: acrMfa } });
    expect(silent.callback?.searchParams.get('error')).toBe('login_required');
    await expect(silent.tokens()).rejects.toMatchObject({ error: 'login_required' });
    // Without acr_values the same session still signs in silently.
    const plain = await SignIn.begin(bed, { agent: session.agent, params: { prompt: 'none' } });
    expect((await plain.tokens()).claims()!.acr).toBe(acrPwd);
  });

  it('asks for the code at the next authorization once the account has a factor, even unasked', async () => {
    const user = await bed.gh.createUser();
    const session = await passwordSession(bed, user);
    const { seed } = await enrolTotp(bed.gh, user.id);
    const next = await SignIn.begin(bed, { agent: session.agent });
    expect(next.title).toBe('Two-step verification');
    await next.code(await totp(seed));
    expect((await next.tokens()).claims()!.acr).toBe(acrMfa);
  });

  it('asks a password-only session without a factor for the password again, then enrolment', async () => {
    const user = await bed.gh.createUser();
    const session = await passwordSession(bed, user);
    const stepUp = await SignIn.begin(bed, { agent: session.agent, params: { acr_values: acrMfa } });
    // A session cookie alone must not be enough to attach an authenticator to the account.
    expect(stepUp.title).toBe('Sign in');
    await stepUp.password(user);
    expect(stepUp.title).toBe('Set up two-step verification');
    await stepUp.enrol();
    const claims = (await stepUp.tokens()).claims()!;
    expect(claims).toMatchObject({ sub: user.id, acr: acrMfa, amr: ['pwd', 'otp'] });
    expect((await bed.gh.app.services.mfa.status(user.id)).enrolled).toBe(true);
  });

  it('reads acr_values in order of preference', async () => {
    const user = await bed.gh.createUser();
    const pwdFirst = await SignIn.begin(bed, { params: { acr_values: `${acrPwd} ${acrMfa}` } });
    await pwdFirst.password(user);
    expect((await pwdFirst.tokens()).claims()!.acr).toBe(acrPwd);

    const mfaFirst = await SignIn.begin(bed, { params: { acr_values: `urn:example:unknown ${acrMfa} ${acrPwd}` } });
    await mfaFirst.password(user);
    expect(mfaFirst.title).toBe('Set up two-step verification');
  });

  it('makes every sign-in to a client with require_mfa use a second factor', async () => {
    const rp = await bed.clientFor({ name: 'Payroll' }, { require_mfa: true });
    const withFactor = await bed.gh.createUser();
    const { seed } = await enrolTotp(bed.gh, withFactor.id);
    const without = await bed.gh.createUser();

    const a = await SignIn.begin(bed, { rp });
    await a.password(withFactor);
    expect(a.title).toBe('Two-step verification');
    await a.code(await totp(seed));
    expect((await a.tokens()).claims()!.acr).toBe(acrMfa);

    // A password-only session at another client does not carry over: the client's flag wins.
    const elsewhere = await passwordSession(bed, without);
    const b = await SignIn.begin(bed, { rp, agent: elsewhere.agent });
    expect(b.title).toBe('Sign in');
    await b.password(without);
    expect(b.title).toBe('Set up two-step verification');
    expect(b.html).toContain('To continue to <strong>Payroll</strong>');
    await b.enrol();
    expect((await b.tokens()).claims()!).toMatchObject({ sub: without.id, acr: acrMfa });

    // prompt=none at that client with a password-only session: login_required.
    const other = await bed.gh.createUser();
    const pwdOnly = await passwordSession(bed, other);
    const silent = await SignIn.begin(bed, { rp, agent: pwdOnly.agent, params: { prompt: 'none' } });
    expect(silent.callback?.searchParams.get('error')).toBe('login_required');
  });

  it('honours a client\'s registered default_acr_values, which a request may override', async () => {
    const rp = await bed.clientFor({ name: 'Defaults' }, { default_acr_values: [acrMfa] });
    const user = await bed.gh.createUser();
    const signIn = await SignIn.begin(bed, { rp });
    await signIn.password(user);
    expect(signIn.title).toBe('Set up two-step verification');
    const overridden = await SignIn.begin(bed, { rp, params: { acr_values: acrPwd } });
    await overridden.password(user);
    expect((await overridden.tokens()).claims()!.acr).toBe(acrPwd);
  });

  it('does not finish a second-factor sign-in for an account disabled half-way', async () => {
    const user = await bed.gh.createUser();
    const { seed } = await enrolTotp(bed.gh, user.id);
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    await bed.gh.app.services.accounts.setDisabled(operator, user.id, true);
    const answer = await signIn.code(await totp(seed));
    expect(answer.status).toBe(403);
    expect(answer.body).toContain('This account cannot sign in.');
    expect(signIn.callback).toBeUndefined();
  });

  it('refuses a client registration whose require_mfa is not a boolean', async () => {
    // The metadata validator is the provider's: exercised through the client schema it builds.
    const provider = bed.gh.app.handle.current;
    await expect(provider.Client.validate({ client_id: 'x', client_secret: 'y'.repeat(43), redirect_uris: ['https://rp.example.test/cb'], require_mfa: 'yes' } as never)).rejects.toThrow(/require_mfa must be a boolean/);
  });
});

describe('operator-required second factor', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await startTestBed({ GATEHOUSE_MFA_REQUIRED: 'true' });
  });
  afterAll(() => bed?.gh.close());

  it('sends every user without a factor to enrolment during sign-in, and asks the enrolled for their code', async () => {
    const user = await bed.gh.createUser();
    const first = await SignIn.begin(bed);
    await first.password(user);
    expect(first.title).toBe('Set up two-step verification');
    const { seed } = await first.enrol();
    expect((await first.tokens()).claims()!).toMatchObject({ acr: acrMfa, amr: ['pwd', 'otp'] });

    const second = await SignIn.begin(bed);
    await second.password(user);
    expect(second.title).toBe('Two-step verification');
    await second.code(await totp(seed, 1));
    expect((await second.tokens()).claims()!.acr).toBe(acrMfa);
  });
});
