/**
 * The self-service account service (src/accounts/self-service.ts) against a
 * real Gatehouse and real sign-ins through the pages: a password change
 * checks the current password through the lockout, applies the NIST rules,
 * and ends every session and token (the relying party's refresh fails); a
 * session and a grant revoked by the user stop that relying party's refresh;
 * only the user's own objects are reachable; the notifier hears of each
 * change and its failure changes nothing; the activity list holds only the
 * account's own security events.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { createSelfService, type AccountNotice, type SelfService } from '../../../src/accounts/self-service.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';

const redirectUri = 'https://rp.example.test/callback';
const origin = { ip: '192.0.2.10', clientId: undefined };

describe('account self-service', () => {
  let gh: TestGatehouse;
  let rp: oidc.Configuration;
  let self: SelfService;
  const notices: AccountNotice[] = [];

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_LOCKOUT_MAX_FAILURES_PER_IP: '100000' } });
    const created = await gh.createClient({ type: 'confidential', name: 'RP', firstParty: true, redirectUris: [redirectUri], scope: 'openid offline_access' });
    rp = await oidc.discovery(new URL(gh.issuer), created.clientId, undefined, oidc.ClientSecretBasic(created.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    const { db, services } = gh.app;
    self = createSelfService({ db, ...services, notifier: { notify: async (notice) => void notices.push(notice) } });
  });
  afterAll(() => gh?.close());

  async function signIn(user: { username: string; password: string }) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
    return oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: state });
  }

  it('changes the password only with the current one and a new one the rules allow; then every session and token ends', async () => {
    const user = await gh.createUser();
    const tokens = await signIn(user);
    expect((await self.overview(user.id))!.sessions).toHaveLength(1);

    expect(await self.changePassword(user.id, 'not my password at all', 'a brand new passphrase', origin)).toMatchObject({ ok: false, reason: 'wrong_password' });
    expect((await gh.app.services.lockout.status(user.id)).failures).toBe(1);
    expect(await self.changePassword(user.id, user.password, 'qwerty123456', origin)).toEqual({ ok: false, reason: 'refused', message: 'The new password is on a list of common or breached passwords: choose another.' });
    expect(await self.changePassword(user.id, user.password, 'short', origin)).toMatchObject({ ok: false, reason: 'refused', message: 'The new password must be at least 12 characters.' });
    expect(await self.changePassword(user.id, user.password, `${user.username} forever`, origin)).toMatchObject({ ok: false, reason: 'refused' });
    // Still the old password, and the relying party still refreshes.
    expect((await gh.app.services.accounts.authenticate(user.username, user.password)).ok).toBe(true);
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);

    expect(await self.changePassword(user.id, user.password, 'a brand new passphrase', origin)).toEqual({ ok: true });
    expect((await gh.app.services.accounts.authenticate(user.username, 'a brand new passphrase')).ok).toBe(true);
    await expect(oidc.refreshTokenGrant(rp, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await self.overview(user.id))!.sessions).toEqual([]);
    expect(notices).toContainEqual({ kind: 'password_changed', accountId: user.id });

    // The audit trail writes in batches (DESIGN: off the request path): what a page reads is what has been written.
    await gh.app.audit.flush();
    const activity = await self.recentActivity(user.id);
    expect(activity.map((e) => e.type)).toEqual(expect.arrayContaining(['account.password_changed', 'login.failure']));
    expect(activity[0]!.at.getTime()).toBeGreaterThanOrEqual(activity.at(-1)!.at.getTime());
  });

  it('locks the password change after the lockout limit like a sign-in', async () => {
    const user = await gh.createUser();
    for (let i = 0; i < 5; i += 1) expect((await self.changePassword(user.id, 'wrong wrong wrong', 'a brand new passphrase', origin)).ok).toBe(false);
    expect(await self.changePassword(user.id, user.password, 'a brand new passphrase', origin)).toMatchObject({ ok: false, reason: 'locked' });
    expect((await gh.app.services.accounts.authenticate(user.username, user.password)).ok).toBe(true);
  });

  it("revokes one session and one grant of the user's own: the relying party's refresh fails; another user's are out of reach", async () => {
    const user = await gh.createUser();
    const other = await gh.createUser();
    const first = await signIn(user);
    const second = await signIn(user);
    const theirs = await signIn(other);
    const overview = (await self.overview(user.id))!;
    expect(overview.sessions).toHaveLength(2);
    expect(overview.grants.length).toBeGreaterThanOrEqual(1);
    const otherOverview = (await self.overview(other.id))!;

    expect(await self.signOutSession(user.id, otherOverview.sessions[0]!.id)).toBe(false);
    expect(await self.revokeGrant(user.id, otherOverview.grants[0]!.id)).toBe(false);
    await oidc.refreshTokenGrant(rp, theirs.refresh_token!);

    const grantOfFirst = overview.grants.find((g) => g.clientId === rp.clientMetadata().client_id)!;
    expect(await self.revokeGrant(user.id, grantOfFirst.id)).toBe(true);
    const outcomes = await Promise.allSettled([first, second].map((t) => oidc.refreshTokenGrant(rp, t.refresh_token!)));
    // The revoked grant's refresh token is refused (invalid_grant); whatever the other session holds is its own.
    expect(outcomes.filter((o) => o.status === 'rejected').length).toBeGreaterThanOrEqual(1);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ error: 'invalid_grant' });
    expect((await self.overview(user.id))!.grants.map((g) => g.id)).not.toContain(grantOfFirst.id);

    expect(await self.signOutSession(user.id, overview.sessions[0]!.id)).toBe(true);
    expect((await self.overview(user.id))!.sessions).toHaveLength(1);
    await self.signOutEverywhere(user.id);
    const after = (await self.overview(user.id))!;
    expect(after.sessions).toEqual([]);
    expect(after.grants).toEqual([]);
    await expect(oidc.refreshTokenGrant(rp, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(notices).toContainEqual({ kind: 'signed_out_everywhere', accountId: user.id });
    // The other user signed in throughout.
    await oidc.refreshTokenGrant(rp, theirs.refresh_token!);
    await gh.app.audit.flush();
    expect((await self.recentActivity(user.id)).map((e) => e.type)).toContain('sessions.revoked');
    expect((await self.recentActivity(other.id)).every((e) => e.type !== 'sessions.revoked')).toBe(true);
  });

  it('a notifier that fails changes nothing; a disabled account has no overview', async () => {
    const user = await gh.createUser();
    const errors: unknown[] = [];
    const failing = createSelfService({ db: gh.app.db, ...gh.app.services, notifier: { notify: () => Promise.reject(new Error('smtp down')) }, onNotifyError: (error) => void errors.push(error) });
    expect(await failing.changePassword(user.id, user.password, 'a brand new passphrase', origin)).toEqual({ ok: true });
    expect(errors).toHaveLength(1);
    expect(await failing.removeTotp(user.id)).toBe(false);
    expect(await failing.replaceRecoveryCodes(user.id)).toBeUndefined();
    await gh.app.services.accounts.setDisabled(operator, user.id, true);
    expect(await failing.overview(user.id)).toBeUndefined();
  });
});
