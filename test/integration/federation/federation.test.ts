/**
 * Sign-in through an upstream OpenID provider (issue 20), driven over HTTP
 * through the real pages: a programmable upstream on loopback
 * (test/support/upstream.ts) answers for the user each test names, and an
 * openid-client relying party redeems the Gatehouse code at the end.
 */
import { describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { createSecretBox } from '../../../src/crypto/secret-box.js';
import type { NewUpstream } from '../../../src/federation/schemas.js';
import { acrMfa, enrolTotp, SignIn, totp } from '../mfa/sign-in-flow.js';
import type { Misbehaviour, UpstreamUser } from '../../support/upstream.js';
import { useFederationBed } from './federation-bed.js';

const fed = useFederationBed();
let counter = 0;

const addUpstream = (overrides: Partial<NewUpstream> = {}) => fed.addUpstream(overrides);

const uniqueUser = (extra: Partial<UpstreamUser> = {}): UpstreamUser => {
  counter += 1;
  return { sub: `upstream-${counter}-${Math.random().toString(36).slice(2)}`, email: `person${counter}@corp.example`, email_verified: true, name: `Person ${counter}`, ...extra };
};

/** Opens a Gatehouse sign-in, clicks the upstream's button, lets the upstream answer; returns the sign-in and the callback URL the upstream sent the browser to. */
async function throughUpstream(name: string, user: UpstreamUser, misbehave: Misbehaviour = {}) {
  const signIn = await SignIn.begin(fed.bed);
  const href = new RegExp(`href="(/interaction/[^"]+/upstream/${name})"`).exec(signIn.html)?.[1];
  if (!href) throw new Error(`no button for ${name} on the login page`);
  const toUpstream = await signIn.agent.request(new URL(href, fed.bed.gh.issuer).href);
  expect(toUpstream.status).toBe(303);
  expect(toUpstream.location!.startsWith(`${fed.upstream.issuer}/authorize?`)).toBe(true);
  fed.upstream.next(user, misbehave);
  const atUpstream = await signIn.agent.request(toUpstream.location!);
  expect(atUpstream.location!.startsWith(`${fed.bed.gh.issuer}/federation/callback?`)).toBe(true);
  return { signIn, callback: atUpstream.location! };
}

/** Follows the callback through Gatehouse: to the relying party, or to the page Gatehouse answers with. */
async function arrive(signIn: SignIn, callback: string) {
  const { step, url } = await signIn.agent.follow(callback, fed.bed.gh.issuer);
  if (url.startsWith(fed.bed.gh.issuer)) signIn.page = step;
  else signIn.callback = new URL(url);
  return step;
}

async function linksOf(accountId: string) {
  const { rows } = await fed.bed.gh.app.db.query<{ issuer: string; subject: string }>('SELECT issuer, subject FROM federation_links WHERE account_id = $1', [accountId]);
  return rows;
}

async function auditTypes(type: string) {
  await fed.bed.gh.app.audit.flush();
  const { rows } = await fed.bed.gh.app.db.query<{ detail: Record<string, unknown> }>('SELECT detail FROM audit_events WHERE type = $1', [type]);
  return rows.map((r) => r.detail);
}

describe('sign-in through an upstream OpenID provider', () => {
  it('creates an account just in time, hands the RP a Gatehouse ID token with amr fed, and reuses the link next time', async () => {
    const corp = await addUpstream();
    const user = uniqueUser();
    const first = await throughUpstream(corp.name, user);
    await arrive(first.signIn, first.callback);
    const tokens = await first.signIn.tokens();
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(fed.bed.gh.issuer);
    expect(claims.amr).toEqual(['fed']);
    const account = await fed.bed.gh.app.services.accounts.findById(claims.sub);
    expect(account?.email).toBe(user.email);
    expect(account?.emailVerified).toBe(true);
    expect(await linksOf(claims.sub)).toEqual([{ issuer: fed.upstream.issuer, subject: user.sub }]);
    // The upstream got PKCE S256, a state and a nonce.
    const asked = fed.upstream.authorizations.at(-1)!;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(asked.get('redirect_uri')).toBe(`${fed.bed.gh.issuer}/federation/callback`);

    const again = await throughUpstream(corp.name, user);
    await arrive(again.signIn, again.callback);
    expect((await again.signIn.tokens()).claims()!.sub).toBe(claims.sub);
    // No password signs a just-in-time account in.
    expect((await fed.bed.gh.app.services.accounts.authenticate(account!.username, '!no-password')).ok).toBe(false);
  });

  it('refuses an authorization response whose iss names another issuer (RFC 9207)', async () => {
    const corp = await addUpstream();
    const user = uniqueUser();
    const { signIn, callback } = await throughUpstream(corp.name, user, { iss: 'https://evil.example' });
    const page = await arrive(signIn, callback);
    expect(page.status).toBe(400);
    expect(page.body).toContain('Signing in with that provider did not work');
    expect(signIn.callback).toBeUndefined();
    expect(await fed.bed.gh.app.services.accounts.find(user.email!)).toBeUndefined();
  });

  it('refuses an ID token whose nonce is not the one sent', async () => {
    const corp = await addUpstream();
    const user = uniqueUser();
    const { signIn, callback } = await throughUpstream(corp.name, user, { nonce: 'another-nonce' });
    expect((await arrive(signIn, callback)).status).toBe(400);
    expect(await fed.bed.gh.app.services.accounts.find(user.email!)).toBeUndefined();
  });

  it('refuses an ID token issued to another client', async () => {
    const corp = await addUpstream();
    const user = uniqueUser();
    const { signIn, callback } = await throughUpstream(corp.name, user, { aud: 'some-other-client' });
    expect((await arrive(signIn, callback)).status).toBe(400);
    expect(await fed.bed.gh.app.services.accounts.find(user.email!)).toBeUndefined();
    const failures = await auditTypes('login.failure');
    expect(failures.some((d) => d.factor === 'upstream' && d.upstream === corp.name && d.reason === 'upstream_response_rejected')).toBe(true);
  });

  it('uses a state once: the same callback replayed is refused', async () => {
    const corp = await addUpstream();
    const user = uniqueUser();
    const { signIn, callback } = await throughUpstream(corp.name, user);
    await arrive(signIn, callback);
    expect(signIn.callback).toBeDefined();
    const replay = await signIn.agent.request(callback);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain('expired or was already used');
    // A state made up is refused the same way, and a callback without one.
    expect((await signIn.agent.request(`${fed.bed.gh.issuer}/federation/callback?state=made-up&code=x`)).status).toBe(400);
    expect((await signIn.agent.request(`${fed.bed.gh.issuer}/federation/callback`)).status).toBe(400);
  });

  it('refuses the callback in another browser (the interaction cookie is not there)', async () => {
    const corp = await addUpstream();
    const { signIn, callback } = await throughUpstream(corp.name, uniqueUser());
    const bounced = await new (signIn.agent.constructor as new () => typeof signIn.agent)().request(callback);
    expect(bounced.status).toBe(303);
    const other = await new (signIn.agent.constructor as new () => typeof signIn.agent)().request(bounced.location!);
    expect(other.status).toBe(400);
  });

  it('does not link an existing account by an unverified email, even where verified emails are trusted', async () => {
    const corp = await addUpstream({ linking: 'link-by-verified-email-when-trusted' });
    const local = await fed.bed.gh.createUser();
    const email = `${local.username}@example.test`;
    const { signIn, callback } = await throughUpstream(corp.name, uniqueUser({ email, email_verified: false }));
    const page = await arrive(signIn, callback);
    expect(page.status).toBe(403);
    expect(await linksOf(local.id)).toEqual([]);

    // The same address, verified by the upstream, links (both sides call it verified).
    const verified = uniqueUser({ email, email_verified: true });
    const second = await throughUpstream(corp.name, verified);
    await arrive(second.signIn, second.callback);
    expect((await second.signIn.tokens()).claims()!.sub).toBe(local.id);
    expect(await linksOf(local.id)).toEqual([{ issuer: fed.upstream.issuer, subject: verified.sub }]);
  });

  it('never links by email under jit-create: an address already taken is refused', async () => {
    const corp = await addUpstream({ linking: 'jit-create' });
    const local = await fed.bed.gh.createUser();
    const { signIn, callback } = await throughUpstream(corp.name, uniqueUser({ email: `${local.username}@example.test` }));
    expect((await arrive(signIn, callback)).status).toBe(403);
    expect(await linksOf(local.id)).toEqual([]);
  });

  it('refuses a linked user who was disabled locally', async () => {
    const corp = await addUpstream();
    const user = uniqueUser();
    const first = await throughUpstream(corp.name, user);
    await arrive(first.signIn, first.callback);
    const sub = (await first.signIn.tokens()).claims()!.sub;
    await fed.bed.gh.app.services.accounts.setDisabled(operator, sub, true);
    const again = await throughUpstream(corp.name, user);
    const page = await arrive(again.signIn, again.callback);
    expect(page.status).toBe(403);
    expect(page.body).toContain('This account cannot sign in');
    expect(again.signIn.callback).toBeUndefined();
  });

  it('refuses unknown users under refuse', async () => {
    const corp = await addUpstream({ linking: 'refuse' });
    const { signIn, callback } = await throughUpstream(corp.name, uniqueUser());
    const page = await arrive(signIn, callback);
    expect(page.status).toBe(403);
    expect(page.body).toContain('There is no account for you here yet');
  });

  it('links after the account signs in with its password (link-after-sign-in)', async () => {
    const corp = await addUpstream({ linking: 'link-after-sign-in' });
    const local = await fed.bed.gh.createUser();
    const user = uniqueUser({ email: `${local.username}@example.test` });
    const { signIn, callback } = await throughUpstream(corp.name, user);
    const page = await arrive(signIn, callback);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`Sign in with your password to link your ${corp.displayName} account`);
    expect(await linksOf(local.id)).toEqual([]);
    await signIn.password(local);
    expect((await signIn.tokens()).claims()!.sub).toBe(local.id);
    expect(await linksOf(local.id)).toEqual([{ issuer: fed.upstream.issuer, subject: user.sub }]);
    const linked = await auditTypes('federation.linked');
    expect(linked.some((d) => d.upstream === corp.name && d.how === 'link-after-sign-in')).toBe(true);

    const next = await throughUpstream(corp.name, user);
    await arrive(next.signIn, next.callback);
    expect((await next.signIn.tokens()).claims()!.sub).toBe(local.id);
  });

  it('sends an email in a claimed domain straight to its upstream (home-realm discovery)', async () => {
    const domain = `realm${counter}.example`;
    const corp = await addUpstream({ domains: [domain] });
    const signIn = await SignIn.begin(fed.bed);
    const posted = await signIn.submit('login', { login: `someone@${domain}`, password: '' });
    expect(posted.status).toBe(303);
    expect(posted.location!.startsWith(`${fed.upstream.issuer}/authorize?`)).toBe(true);
    expect(corp.domains).toEqual([domain]);
  });

  it('does not offer or start a disabled upstream', async () => {
    const corp = await addUpstream({ enabled: false });
    const signIn = await SignIn.begin(fed.bed);
    expect(signIn.html).not.toContain(`/upstream/${corp.name}"`);
    const started = await signIn.agent.request(new URL(`${signIn.interactionUrl}/upstream/${corp.name}`).href);
    expect(started.status).toBe(404);
  });
});

describe('the upstream client secret at rest', () => {
  it('is sealed: the row holds neither the secret nor anything another master secret opens', async () => {
    const corp = await addUpstream();
    const { rows } = await fed.bed.gh.app.db.query<{ client_secret_ciphertext: string }>('SELECT client_secret_ciphertext FROM federation_upstreams WHERE id = $1', [corp.id]);
    const sealed = rows[0]!.client_secret_ciphertext;
    expect(sealed).not.toContain(fed.upstream.clientSecret);
    expect(JSON.stringify(rows)).not.toContain(fed.upstream.clientSecret);
    expect(() => createSecretBox(Buffer.alloc(32, 7)).open('upstream-client-secret', corp.id, sealed)).toThrow();
    expect(corp).not.toHaveProperty('clientSecret');
    expect(corp.hasClientSecret).toBe(true);
  });
});

describe('private_key_jwt to the upstream', () => {
  it('authenticates at the token endpoint with an assertion the upstream verifies against Gatehouse\'s published key', async () => {
    const corp = await addUpstream({ clientAuth: 'private_key_jwt', clientSecret: undefined });
    expect(corp.hasClientSecret).toBe(false);
    expect(corp.publicJwk?.kid).toMatch(/^[\w-]{43}$/);
    fed.upstream.acceptClientAssertions(`${fed.bed.gh.issuer}/federation/jwks`);
    const served = await fetch(`${fed.bed.gh.issuer}/federation/jwks`);
    expect(served.headers.get('content-type')).toMatch(/^application\/jwk-set\+json/);
    const jwks = (await served.json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.find((k) => k.kid === corp.publicJwk!.kid)).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    expect(jwks.keys.every((k) => !('d' in k))).toBe(true);

    const { signIn, callback } = await throughUpstream(corp.name, uniqueUser());
    await arrive(signIn, callback);
    expect((await signIn.tokens()).claims()!.amr).toEqual(['fed']);
    expect(fed.upstream.tokenAuth.at(-1)).toBe('private_key_jwt');

    // At rest the private key is sealed: no private member in the row, and another master secret opens nothing.
    const { rows } = await fed.bed.gh.app.db.query<{ signing_key_ciphertext: string; signing_public_jwk: Record<string, unknown> }>('SELECT signing_key_ciphertext, signing_public_jwk FROM federation_upstreams WHERE id = $1', [corp.id]);
    expect(rows[0]!.signing_key_ciphertext).not.toMatch(/"d"/);
    expect(rows[0]!.signing_public_jwk).not.toHaveProperty('d');
    expect(() => createSecretBox(Buffer.alloc(32, 7)).open('upstream-signing-key', corp.id, rows[0]!.signing_key_ciphertext)).toThrow();

    // Removed, its key leaves the JWKS: an assertion made with it no longer verifies at the fed.upstream.
    await fed.bed.gh.app.services.upstreams.remove(operator, corp.id);
    const after = (await (await fetch(`${fed.bed.gh.issuer}/federation/jwks`)).json()) as { keys: Array<{ kid: string }> };
    expect(after.keys.map((k) => k.kid)).not.toContain(corp.publicJwk!.kid);
  });

  it('a secret-based upstream still sends Basic; an upstream refusing the assertion ends the sign-in with the failure page', async () => {
    const basic = await addUpstream();
    const first = await throughUpstream(basic.name, uniqueUser());
    await arrive(first.signIn, first.callback);
    expect(fed.upstream.tokenAuth.at(-1)).toBe('client_secret_basic');

    // The upstream trusts another JWKS (nobody's keys): Gatehouse's assertion is refused, and so is the sign-in.
    const pkj = await addUpstream({ clientAuth: 'private_key_jwt', clientSecret: undefined });
    fed.upstream.acceptClientAssertions(`${fed.upstream.issuer}/jwks`);
    const user = uniqueUser();
    const { signIn, callback } = await throughUpstream(pkj.name, user);
    expect((await arrive(signIn, callback)).status).toBe(400);
    expect(await fed.bed.gh.app.services.accounts.find(user.email!)).toBeUndefined();
    fed.upstream.acceptClientAssertions(`${fed.bed.gh.issuer}/federation/jwks`);
  });
});

describe('back-channel logout from the upstream', () => {
  const post = (body: string, type = 'application/x-www-form-urlencoded') => fetch(`${fed.bed.gh.issuer}/federation/backchannel-logout`, { method: 'POST', headers: { 'content-type': type }, body });
  const send = (token: string) => post(new URLSearchParams({ logout_token: token }).toString());

  async function signedIn(corpName: string) {
    const user = uniqueUser();
    const { signIn, callback } = await throughUpstream(corpName, user);
    await arrive(signIn, callback);
    const sub = (await signIn.tokens()).claims()!.sub;
    expect((await fed.bed.gh.app.services.sessions.listSessions(sub)).length).toBe(1);
    return { user, accountId: sub, sid: fed.upstream.lastSid! };
  }

  it('refuses every token that fails a check of §2.6, and ends nothing', async () => {
    const corp = await addUpstream();
    const { user, accountId } = await signedIn(corp.name);
    const refused = async (response: Promise<Response>) => {
      const answer = await response;
      expect(answer.status).toBe(400);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(((await answer.json()) as { error: string }).error).toBe('invalid_request');
    };
    const sub = user.sub;
    await refused(send(await fed.upstream.logoutToken({ sub }, { key: 'other' })));
    await refused(send(await fed.upstream.logoutToken({ sub, iss: 'https://evil.example' })));
    await refused(send(await fed.upstream.logoutToken({ sub, aud: 'another-client' })));
    await refused(send(await fed.upstream.logoutToken({ sub, events: undefined })));
    await refused(send(await fed.upstream.logoutToken({ sub, events: { 'http://schemas.openid.net/event/other': {} } })));
    await refused(send(await fed.upstream.logoutToken({ sub, nonce: 'n' })));
    await refused(send(await fed.upstream.logoutToken({ sub, jti: undefined })));
    await refused(send(await fed.upstream.logoutToken({ sub: undefined })));
    await refused(send(await fed.upstream.logoutToken({ sub, iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) + 60 })));
    await refused(send(await fed.upstream.logoutToken({ sub }, { typ: 'at+jwt' })));
    await refused(send('not-a-jwt'));
    await refused(post(''));
    await refused(post(JSON.stringify({ logout_token: await fed.upstream.logoutToken({ sub }) }), 'application/json'));
    expect((await fed.bed.gh.app.services.sessions.listSessions(accountId)).length).toBe(1);
    const failures = await auditTypes('federation.logout_refused');
    expect(failures.map((d) => d.reason)).toEqual(expect.arrayContaining(['invalid_token', 'unknown_issuer', 'no_logout_event', 'nonce_present', 'no_subject', 'wrong_type', 'malformed']));
  });

  it('ends the linked account\'s Gatehouse sessions by sub; the same token again is refused', async () => {
    const corp = await addUpstream();
    const { user, accountId } = await signedIn(corp.name);
    const token = await fed.upstream.logoutToken({ sub: user.sub });
    const answer = await send(token);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(await fed.bed.gh.app.services.sessions.listSessions(accountId)).toEqual([]);
    expect((await send(token)).status).toBe(400);
    const ended = await auditTypes('federation.logged_out');
    // Every upstream in this file shares the test upstream's issuer and client id: the issuer is what names it.
    expect(ended.some((d) => d.issuer === fed.upstream.issuer && d.sessions === 1 && d.by === 'sub')).toBe(true);
    const revoked = await auditTypes('sessions.revoked');
    expect(revoked.some((d) => d.reason === 'upstream_logout')).toBe(true);
  });

  it('ends them by sid alone (recorded at sign-in); a sid with another user\'s sub ends nothing', async () => {
    const corp = await addUpstream();
    const one = await signedIn(corp.name);
    const two = await signedIn(corp.name);
    expect((await send(await fed.upstream.logoutToken({ sid: two.sid, sub: one.user.sub }))).status).toBe(200);
    expect((await fed.bed.gh.app.services.sessions.listSessions(two.accountId)).length).toBe(1);
    expect((await send(await fed.upstream.logoutToken({ sid: one.sid }))).status).toBe(200);
    expect(await fed.bed.gh.app.services.sessions.listSessions(one.accountId)).toEqual([]);
    // An unknown subject is accepted (the upstream cannot tell) and ends nothing.
    expect((await send(await fed.upstream.logoutToken({ sub: 'nobody-here' }))).status).toBe(200);
    expect((await fed.bed.gh.app.services.sessions.listSessions(two.accountId)).length).toBe(1);
  });
});

describe('links from the account page (service)', () => {
  it('a user cannot remove the only way into a just-in-time account; the operator can; a password makes it removable', async () => {
    const corp = await addUpstream();
    const user = uniqueUser();
    const { signIn, callback } = await throughUpstream(corp.name, user);
    await arrive(signIn, callback);
    const accountId = (await signIn.tokens()).claims()!.sub;
    const links = fed.bed.gh.app.services.federationLinks;
    expect(await links.forAccount(accountId)).toEqual([expect.objectContaining({ issuer: fed.upstream.issuer, subject: user.sub, upstream: corp.name, upstreamDisplayName: corp.displayName })]);
    const self = { kind: 'user' as const, userId: accountId };
    await expect(links.remove(self, accountId, { issuer: fed.upstream.issuer, subject: user.sub })).rejects.toThrow(/only way to sign in/);
    await expect(links.remove(self, accountId, { issuer: fed.upstream.issuer, subject: 'someone-else' })).rejects.toThrow(/no such link/);
    const other = await fed.bed.gh.createUser();
    await expect(links.remove(operator, other.id, { issuer: fed.upstream.issuer, subject: user.sub })).rejects.toThrow(/no such link/);
    await fed.bed.gh.app.services.accounts.setPassword(operator, accountId, 'correct horse battery staple');
    await links.remove(self, accountId, { issuer: fed.upstream.issuer, subject: user.sub });
    expect(await links.forAccount(accountId)).toEqual([]);
    const unlinked = await auditTypes('federation.unlinked');
    expect(unlinked.some((d) => d.upstream === corp.name)).toBe(true);
  });

  it('links another upstream from the account page: the state is bound to the account, used once, and never moves a link', async () => {
    const corp = await addUpstream();
    const signIns = fed.bed.gh.app.services.federatedSignIns;
    const expiry = new Date(Date.now() + 600_000);
    /** The browser's round trip: Gatehouse's URL, the upstream, /federation/callback, bounced to the account page's return path. */
    async function roundTrip(accountId: string, user: UpstreamUser) {
      const url = await signIns.beginAccountLink(accountId, corp.name, expiry);
      fed.upstream.next(user);
      const atUpstream = await fetch(url!, { redirect: 'manual' });
      const callback = await fetch(atUpstream.headers.get('location')!, { redirect: 'manual' });
      expect(callback.status).toBe(303);
      const back = new URL(callback.headers.get('location')!, fed.bed.gh.issuer);
      expect(back.pathname).toBe('/account/links/return');
      return back.searchParams;
    }
    const local = await fed.bed.gh.createUser();
    const other = await fed.bed.gh.createUser();
    const user = uniqueUser();
    const query = await roundTrip(local.id, user);
    // Another account presenting this return finds nothing, and does not use it up.
    expect(await signIns.completeAccountLink(other.id, query)).toEqual({ kind: 'failed', reason: 'unknown_state' });
    expect(await signIns.completeAccountLink(local.id, query)).toMatchObject({ kind: 'linked', upstream: { name: corp.name } });
    expect(await signIns.completeAccountLink(local.id, query)).toEqual({ kind: 'failed', reason: 'unknown_state' });
    expect((await fed.bed.gh.app.services.federationLinks.forAccount(local.id)).map((l) => l.subject)).toEqual([user.sub]);
    // The same identity from another account: refused, the link stays where it is.
    expect(await signIns.completeAccountLink(other.id, await roundTrip(other.id, user))).toMatchObject({ kind: 'already-linked', mine: false });
    expect(await fed.bed.gh.app.services.federationLinks.forAccount(other.id)).toEqual([]);
    // A tampered answer (ID token for another client) links nothing.
    const url = await signIns.beginAccountLink(other.id, corp.name, expiry);
    fed.upstream.next(uniqueUser(), { aud: 'someone-else' });
    const callback = await fetch((await fetch(url!, { redirect: 'manual' })).headers.get('location')!, { redirect: 'manual' });
    const query2 = new URL(callback.headers.get('location')!, fed.bed.gh.issuer).searchParams;
    expect(await signIns.completeAccountLink(other.id, query2)).toEqual({ kind: 'failed', reason: 'upstream_response_rejected' });
    expect(await signIns.beginAccountLink(other.id, 'no-such-upstream', expiry)).toBeUndefined();
  });
});

describe('the second factor after an upstream sign-in', () => {
  /** A just-in-time account made through `corp`, then given TOTP: its seed and the upstream user. */
  async function enrolledThrough(corp: { name: string }) {
    const user = uniqueUser();
    const first = await throughUpstream(corp.name, user);
    await arrive(first.signIn, first.callback);
    const accountId = (await first.signIn.tokens()).claims()!.sub;
    const { seed } = await enrolTotp(fed.bed.gh, accountId);
    return { user, accountId, seed };
  }

  it('always-ask: a TOTP account is asked for its code although the upstream says it did MFA', async () => {
    const corp = await addUpstream({ secondFactor: 'always-ask' });
    const { user, seed } = await enrolledThrough(corp);
    const { signIn, callback } = await throughUpstream(corp.name, { ...user, amr: ['pwd', 'mfa'] });
    await arrive(signIn, callback);
    expect(signIn.callback).toBeUndefined();
    expect(signIn.html).toMatch(/action="[^"]*\/totp"/);
    await signIn.code(await totp(seed));
    const claims = (await signIn.tokens()).claims()!;
    expect(claims.acr).toBe(acrMfa);
    expect(claims.amr).toEqual(expect.arrayContaining(['fed', 'otp']));
  });

  it('trust-upstream: the upstream\'s MFA (amr) stands in for the code; its password alone does not', async () => {
    const corp = await addUpstream({ secondFactor: 'trust-upstream' });
    const { user, seed } = await enrolledThrough(corp);
    const trusted = await throughUpstream(corp.name, { ...user, amr: ['pwd', 'mfa'] });
    await arrive(trusted.signIn, trusted.callback);
    const claims = (await trusted.signIn.tokens()).claims()!;
    expect(claims.acr).toBe(acrMfa);
    expect(claims.amr).toEqual(['fed', 'mfa']);

    const weak = await throughUpstream(corp.name, { ...user, amr: ['pwd'] });
    await arrive(weak.signIn, weak.callback);
    expect(weak.signIn.callback).toBeUndefined();
    expect(weak.signIn.html).toMatch(/action="[^"]*\/totp"/);
    await weak.signIn.code(await totp(seed));
    expect((await weak.signIn.tokens()).claims()!.acr).toBe(acrMfa);
  });
});
