/**
 * The lockout: failed password and second-factor attempts counted per account
 * and per client IP in the database, before they are checked, so parallel
 * guesses cannot get more than the limit checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { countStatuses, enrolTotp, ForwardedAgent, SignIn, startTestBed, totp, wrongCode, type TestBed } from './sign-in-flow.js';
import { operator } from '../../../src/audit/events.js';
import { hiddenField } from '../../support/user-agent.js';

const lockedSentence = /Too many failed attempts\. Try again in (\d+) minutes?\./;

describe('account lockout', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await startTestBed();
  });
  afterAll(() => bed?.gh.close());

  async function userWithTotp() {
    const user = await bed.gh.createUser();
    return { ...user, ...(await enrolTotp(bed.gh, user.id)) };
  }

  it('locks the account after five wrong codes: even the right code and password are refused until an unlock', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    const wrong = await wrongCode(user.seed);
    for (let i = 1; i <= 5; i += 1) {
      expect((await signIn.code(wrong)).status, `wrong code ${i}`).toBe(401);
      expect(signIn.html).toContain('That code did not work.');
    }
    const refused = await signIn.code(await totp(user.seed));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(800);
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    expect(signIn.html).toMatch(lockedSentence);
    expect(signIn.callback).toBeUndefined();
    expect(await bed.gh.app.services.lockout.status(user.id)).toMatchObject({ failures: 5, locked: true });

    // The password page is locked for this account too, without checking the password.
    const again = await SignIn.begin(bed);
    expect((await again.password(user)).status).toBe(429);
    expect(again.html).toMatch(lockedSentence);

    const { cleared } = await bed.gh.app.services.accounts.unlock(operator, user.username);
    expect(cleared).toBe(true);
    const after = await SignIn.begin(bed);
    await after.password(user);
    expect((await after.code(await totp(user.seed))).status).toBe(303);
    expect((await after.tokens()).claims()!.sub).toBe(user.id);
  });

  it('checks no more than five of fifty parallel wrong codes', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    const wrong = await wrongCode(user.seed);
    const answers = await Promise.all(Array.from({ length: 50 }, () => signIn.code(wrong)));
    expect(countStatuses(answers)).toEqual({ 401: 5, 429: 45 });
    expect(await bed.gh.app.services.lockout.status(user.id)).toMatchObject({ failures: 5, locked: true });
  });

  it('checks no more than five of fifty parallel wrong passwords, each from its own sign-in', async () => {
    const user = await bed.gh.createUser();
    const signIns = [];
    for (let i = 0; i < 50; i += 1) signIns.push(await SignIn.begin(bed));
    const answers = await Promise.all(signIns.map((s) => s.password({ username: user.username, password: 'not the password at all' })));
    expect(countStatuses(answers)).toEqual({ 401: 5, 429: 45 });
    // Locked: the right password is refused too.
    const late = await SignIn.begin(bed);
    expect((await late.password(user)).status).toBe(429);
  });

  it('does not let a known password reset the count: password then a wrong code, five times, locks', async () => {
    const user = await userWithTotp();
    const wrong = await wrongCode(user.seed);
    for (let i = 1; i <= 5; i += 1) {
      const signIn = await SignIn.begin(bed);
      expect((await signIn.password(user)).status, `password ${i}`).toBe(303);
      expect((await signIn.code(wrong)).status, `code ${i}`).toBe(401);
    }
    const sixth = await SignIn.begin(bed);
    expect((await sixth.password(user)).status).toBe(429);
  });

  it('counts wrong recovery codes like wrong TOTP codes', async () => {
    const user = await userWithTotp();
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    await signIn.agent.request(`${signIn.interactionUrl}/recovery`).then((page) => (signIn.page = page));
    for (let i = 1; i <= 5; i += 1) expect((await signIn.submit('recovery', { code: 'aaaaa-bbbbb' })).status).toBe(401);
    expect((await signIn.submit('recovery', { code: user.recoveryCodes[0]! })).status).toBe(429);
    // The refused code was not spent.
    expect((await bed.gh.app.services.mfa.status(user.id)).recoveryCodesLeft).toBe(10);
  });

  /** A passkey row for `accountId` whose public key no assertion can match: enough for the pages to ask for it. */
  async function withPasskey(accountId: string): Promise<string> {
    const credentialId = Buffer.from(`cred-${accountId}`).toString('base64url');
    await bed.gh.app.db.query(
      `INSERT INTO passkeys (id, account_id, credential_id, public_key, counter, device_type, backed_up, aaguid, attestation, name)
       VALUES ($1, $2, $3, $4, 0, 'singleDevice', false, '00000000-0000-0000-0000-000000000000', 'none', 'test')`,
      [`pk-${accountId}`, accountId, credentialId, Buffer.from('not a COSE key')],
    );
    return credentialId;
  }

  const forgedAssertion = (credentialId: string) => JSON.stringify({
    id: credentialId,
    rawId: credentialId,
    type: 'public-key',
    clientExtensionResults: {},
    response: { clientDataJSON: Buffer.from('{"type":"webauthn.get"}').toString('base64url'), authenticatorData: 'AAAA', signature: 'AAAA' },
  });

  it('counts failed passkey assertions like wrong codes: five lock the account, password included', async () => {
    const user = await bed.gh.createUser();
    const credentialId = await withPasskey(user.id);
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    expect(signIn.title).toBe('Use your passkey');
    for (let i = 1; i <= 5; i += 1) {
      expect((await signIn.submit('passkey', { response: forgedAssertion(credentialId) })).status, `forged assertion ${i}`).toBe(401);
      expect(signIn.html).toContain('Your passkey could not be used.');
    }
    const refused = await signIn.submit('passkey', { response: forgedAssertion(credentialId) });
    expect(refused.status).toBe(429);
    expect(signIn.html).toMatch(lockedSentence);
    expect(await bed.gh.app.services.lockout.status(user.id)).toMatchObject({ failures: 5, locked: true });
    const again = await SignIn.begin(bed);
    expect((await again.password(user)).status).toBe(429);

    // Passwordless, a credential nobody registered costs an attempt too (per address and the id), with one answer.
    const stranger = await SignIn.begin(bed);
    // Without a challenge asked for first there is nothing to answer: 400, as for an expired one.
    expect((await stranger.submit('passwordless', { response: forgedAssertion('bm8tc3VjaC1jcmVkZW50aWFs') })).status).toBe(400);
    expect((await stranger.post(`${new URL(stranger.interactionUrl).pathname}/passwordless-options`, { csrf: hiddenField(stranger.html, 'csrf') })).status).toBe(200);
    const unknown = await stranger.submit('passwordless', { response: forgedAssertion('bm8tc3VjaC1jcmVkZW50aWFs') });
    expect(unknown.status).toBe(401);
    expect(stranger.html).toContain('That passkey is not registered here.');
  });

  it('issues the login page\'s passkey challenge only on request: a page view writes nothing; the request needs the CSRF token', async () => {
    const count = async () => Number((await bed.gh.app.db.query<{ n: string }>('SELECT count(*) AS n FROM webauthn_challenges')).rows[0]!.n);
    const before = await count();
    const signIn = await SignIn.begin(bed);
    expect(signIn.title).toBe('Sign in');
    expect(signIn.html).not.toContain('data-options=');
    expect(await count()).toBe(before);

    const forged = await signIn.post(`${new URL(signIn.interactionUrl).pathname}/passwordless-options`, { csrf: 'forged' });
    expect(forged.status).toBe(403);
    expect(await count()).toBe(before);
    const asked = await signIn.post(`${new URL(signIn.interactionUrl).pathname}/passwordless-options`, { csrf: hiddenField(signIn.html, 'csrf') });
    expect(asked.status).toBe(200);
    expect(asked.headers.get('cache-control')).toBe('no-store');
    const options = JSON.parse(asked.body) as { challenge: string; allowCredentials: unknown[]; userVerification: string; timeout: number };
    expect(options).toMatchObject({ allowCredentials: [], userVerification: 'required' });
    expect(Buffer.from(options.challenge, 'base64url')).toHaveLength(32);
    // Asking again replaces this ceremony's challenge rather than adding one.
    await signIn.post(`${new URL(signIn.interactionUrl).pathname}/passwordless-options`, { csrf: hiddenField(signIn.html, 'csrf') });
    expect(await count()).toBe(before + 1);
    expect((await signIn.post(`${new URL(signIn.interactionUrl).pathname}/passwordless-options`, {})).status).toBe(403);
  });

  it('locks a name that matches no account the same way, with the same answers', async () => {
    const known = await bed.gh.createUser();
    const answers = async (login: string) => {
      const pages = [];
      for (let i = 0; i < 6; i += 1) {
        const signIn = await SignIn.begin(bed);
        const posted = await signIn.password({ username: login, password: 'wrong wrong wrong' });
        pages.push({ status: posted.status, error: /role="alert" id="form-error">([^<]*)</.exec(posted.body)?.[1] });
      }
      return pages;
    };
    const forKnown = await answers(known.username);
    const forUnknown = await answers(`nobody-${Date.now()}`);
    expect(forUnknown).toEqual(forKnown);
    expect(forKnown.map((p) => p.status)).toEqual([401, 401, 401, 401, 401, 429]);
    expect(forKnown[5]!.error).toMatch(lockedSentence);
  });

  it('answers the other name of a locked account as it answers a name that matches nothing', async () => {
    const carol = await bed.gh.createUser();
    const email = `${carol.username}@example.test`;
    const answer = async (login: string, password = 'wrong wrong wrong') => {
      const posted = await (await SignIn.begin(bed)).password({ username: login, password });
      return { status: posted.status, error: /role="alert" id="form-error">([^<]*)</.exec(posted.body)?.[1] };
    };
    for (let i = 0; i < 5; i += 1) expect((await answer(carol.username)).status).toBe(401);
    expect((await answer(carol.username, carol.password)).status).toBe(429);

    const viaEmail = [];
    const viaUnknownEmail = [];
    for (let i = 0; i < 6; i += 1) viaEmail.push(await answer(email));
    for (let i = 0; i < 6; i += 1) viaUnknownEmail.push(await answer(`nobody-${carol.username}@example.test`));
    expect(viaEmail).toEqual(viaUnknownEmail);
    expect(viaEmail.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 429]);
    // The right password through the other name checks nothing while the account is locked.
    const other = await bed.gh.createUser();
    for (let i = 0; i < 5; i += 1) await answer(other.username);
    expect(await answer(`${other.username}@example.test`, other.password)).toEqual({ status: 401, error: 'Username or password is incorrect.' });
    expect(await bed.gh.app.services.lockout.status(other.id)).toMatchObject({ failures: 5, locked: true });
    // An operator unlock clears every name of the account.
    await bed.gh.app.services.accounts.unlock(operator, carol.username);
    expect((await answer(email, carol.password)).status).toBe(303);
  });

  it('starts an account afresh after a completed sign-in', async () => {
    const user = await userWithTotp();
    for (let i = 0; i < 4; i += 1) await (await SignIn.begin(bed)).password({ username: user.username, password: 'wrong wrong wrong' });
    expect((await bed.gh.app.services.lockout.status(user.id)).failures).toBe(4);
    const signIn = await SignIn.begin(bed);
    await signIn.password(user);
    await signIn.code(await totp(user.seed));
    expect(signIn.callback).toBeDefined();
    expect(await bed.gh.app.services.lockout.status(user.id)).toMatchObject({ failures: 0, locked: false });
  });
});

describe('per-address lockout', () => {
  let bed: TestBed;
  beforeAll(async () => {
    bed = await startTestBed({
      GATEHOUSE_LOCKOUT_MAX_FAILURES_PER_IP: '3',
      // The test's requests all come from loopback; a trusted proxy there lets them claim other client addresses.
      GATEHOUSE_TRUST_PROXY: 'true',
      GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
    });
  });
  afterAll(() => bed?.gh.close());

  it('stops one address guessing across accounts at its own limit, and no other address', async () => {
    const attacker = '203.0.113.7';
    for (let i = 0; i < 3; i += 1) {
      const victim = await bed.gh.createUser();
      const signIn = await SignIn.begin(bed, { agent: new ForwardedAgent(attacker) });
      expect((await signIn.password({ username: victim.username, password: 'wrong wrong wrong' })).status).toBe(401);
    }
    const user = await bed.gh.createUser();
    const fromAttacker = await SignIn.begin(bed, { agent: new ForwardedAgent(attacker) });
    expect((await fromAttacker.password(user)).status).toBe(429);
    expect(fromAttacker.html).toMatch(lockedSentence);

    const elsewhere = await SignIn.begin(bed, { agent: new ForwardedAgent('198.51.100.9') });
    expect((await elsewhere.password(user)).status).toBe(303);
    expect((await elsewhere.tokens()).claims()!.sub).toBe(user.id);
    // The accounts themselves were never locked, only the address.
    expect((await bed.gh.app.services.lockout.status(user.id)).locked).toBe(false);
  });

  it('treats an IPv6 /64 as one address', async () => {
    const user = await bed.gh.createUser();
    for (let i = 1; i <= 3; i += 1) {
      const signIn = await SignIn.begin(bed, { agent: new ForwardedAgent(`2001:db8:1:2::${i}`) });
      expect((await signIn.password({ username: `nobody-${i}`, password: 'wrong wrong wrong' })).status).toBe(401);
    }
    const sameNetwork = await SignIn.begin(bed, { agent: new ForwardedAgent('2001:db8:1:2:ffff::9') });
    expect((await sameNetwork.password(user)).status).toBe(429);
  });
});
