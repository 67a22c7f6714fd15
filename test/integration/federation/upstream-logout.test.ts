/**
 * RP-initiated logout at Gatehouse that also ends the upstream session
 * (issue 20 item 5): a user signed in through the loopback upstream, the
 * relying party sends them to /session/end, they confirm; with the upstream's
 * `endUpstreamSession` on, the browser goes to the upstream's
 * end_session_endpoint with its ID token as id_token_hint and comes back
 * through /federation/logout-return to the relying party's
 * post_logout_redirect_uri with its state. Without the flag, or with "stay
 * signed in", the upstream is not contacted.
 */
import { describe, expect, it } from 'vitest';

import { SignIn } from '../mfa/sign-in-flow.js';
import { useFederationBed } from './federation-bed.js';

const postLogout = 'https://rp.example.test/signed-out';
const fed = useFederationBed();
let counter = 0;

const addUpstream = (endUpstreamSession: boolean) => fed.addUpstream({ endUpstreamSession });

/** Signs a fresh upstream user in through Gatehouse for a client with a post-logout redirect URI; the ID token and the browser. */
async function federatedSignIn(name: string) {
  const rp = await fed.bed.clientFor({ postLogoutRedirectUris: [postLogout] });
  const signIn = await SignIn.begin(fed.bed, { rp });
  const href = new RegExp(`href="(/interaction/[^"]+/upstream/${name})"`).exec(signIn.html)![1]!;
  const toUpstream = await signIn.agent.request(new URL(href, fed.bed.gh.issuer).href);
  counter += 1;
  fed.upstream.next({ sub: `logout-user-${counter}-${Math.random().toString(36).slice(2)}`, email: `logout${counter}@corp.example`, email_verified: true });
  const atUpstream = await signIn.agent.request(toUpstream.location!);
  const { url } = await signIn.agent.follow(atUpstream.location!, fed.bed.gh.issuer);
  // Gatehouse redeemed the upstream's code on the way: the ID token it got.
  const upstreamIdToken = fed.upstream.lastIdToken!;
  signIn.callback = new URL(url);
  const tokens = await signIn.tokens();
  return { agent: signIn.agent, idToken: tokens.id_token!, upstreamIdToken, accountId: tokens.claims()!.sub };
}

/** Opens Gatehouse's logout page for the RP and submits it; the confirm answer. */
async function logOut(agent: SignIn['agent'], idToken: string, choice: 'yes' | 'stay') {
  const page = await agent.request(`${fed.bed.gh.issuer}/session/end?id_token_hint=${idToken}&post_logout_redirect_uri=${encodeURIComponent(postLogout)}&state=rp-state-${counter}`);
  expect(page.status).toBe(200);
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)![1]!;
  const confirmed = await agent.request(`${fed.bed.gh.issuer}/session/end/confirm`, { form: choice === 'yes' ? { xsrf, logout: 'yes' } : { xsrf } });
  expect(confirmed.status).toBe(303);
  return { page, confirmed };
}

describe('RP-initiated logout and the upstream session', () => {
  it('with --end-upstream-session, ends the upstream session with its ID token and returns the RP its state', async () => {
    const corp = await addUpstream(true);
    const { agent, idToken, upstreamIdToken, accountId } = await federatedSignIn(corp.name);
    const before = fed.upstream.endSessions.length;
    const { page, confirmed } = await logOut(agent, idToken, 'yes');
    // The confirmation form may lead on to the upstream: its CSP form-action allows that origin.
    expect(page.headers.get('content-security-policy')).toContain(fed.upstream.issuer);

    const toUpstream = new URL(confirmed.location!);
    expect(toUpstream.origin + toUpstream.pathname).toBe(`${fed.upstream.issuer}/logout`);
    expect(toUpstream.searchParams.get('id_token_hint')).toBe(upstreamIdToken);
    expect(toUpstream.searchParams.get('post_logout_redirect_uri')).toBe(`${fed.bed.gh.issuer}/federation/logout-return`);
    const state = toUpstream.searchParams.get('state')!;
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const atUpstream = await agent.request(toUpstream.href);
    expect(fed.upstream.endSessions.length).toBe(before + 1);
    expect(fed.upstream.endSessions.at(-1)!.get('id_token_hint')).toBe(upstreamIdToken);
    const back = await agent.request(atUpstream.location!);
    expect(back.status).toBe(303);
    const atRp = new URL(back.location!);
    expect(atRp.origin + atRp.pathname).toBe(postLogout);
    expect(atRp.searchParams.get('state')).toBe(`rp-state-${counter}`);

    // The return state works once: a replay gets a plain page, not a redirect.
    const replay = await agent.request(atUpstream.location!);
    expect(replay.status).toBe(400);
    expect(replay.location).toBeUndefined();
    await fed.bed.gh.app.audit.flush();
    const { rows } = await fed.bed.gh.app.db.query<{ detail: Record<string, unknown> }>("SELECT detail FROM audit_events WHERE type = 'federation.upstream_logout' AND subject = $1", [accountId]);
    expect(rows).toEqual([expect.objectContaining({ detail: expect.objectContaining({ upstream: corp.name, hint: 'id_token_hint' }) })]);
  });

  it('without the flag, the upstream is not contacted and the RP gets its state directly', async () => {
    const corp = await addUpstream(false);
    const { agent, idToken } = await federatedSignIn(corp.name);
    const before = fed.upstream.endSessions.length;
    const { page, confirmed } = await logOut(agent, idToken, 'yes');
    expect(page.headers.get('content-security-policy')).not.toContain(fed.upstream.issuer);
    const atRp = new URL(confirmed.location!);
    expect(atRp.origin + atRp.pathname).toBe(postLogout);
    expect(atRp.searchParams.get('state')).toBe(`rp-state-${counter}`);
    expect(fed.upstream.endSessions.length).toBe(before);
  });

  it('"stay signed in" keeps the Gatehouse session, so the upstream session is left alone too', async () => {
    const corp = await addUpstream(true);
    const { agent, idToken } = await federatedSignIn(corp.name);
    const before = fed.upstream.endSessions.length;
    const { confirmed } = await logOut(agent, idToken, 'stay');
    expect(new URL(confirmed.location!).origin + new URL(confirmed.location!).pathname).toBe(postLogout);
    expect(fed.upstream.endSessions.length).toBe(before);
  });

  it('an unknown return state is a plain page', async () => {
    const answer = await fetch(`${fed.bed.gh.issuer}/federation/logout-return?state=made-up`, { redirect: 'manual' });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('location')).toBeNull();
    expect(await answer.text()).toContain('</html>');
  });
});
