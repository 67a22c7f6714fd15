/**
 * The lockout: failed password and second-factor attempts counted per account
 * and per client IP in the database, before they are checked, so parallel
 * guesses cannot get more than the limit checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { countStatuses, enrolTotp, ForwardedAgent, SignIn, startTestBed, totp, wrongCode, type TestBed } from './sign-in-flow.js';
import { operator } from '../../../src/audit/events.js';

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
