/**
 * Sign-in through an OAuth 2.0 upstream that is not OpenID Connect, in
 * GitHub's shape (issue 20 item 1: "a small explicit mapping"): no ID token,
 * a numeric user id as the subject, and an email that counts as verified only
 * when the emails list says so, since the profile's public address is the
 * user's own claim.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SignIn } from '../mfa/sign-in-flow.js';
import { startOAuth2Upstream, type OAuth2Upstream, type OAuth2User } from '../../support/oauth2-upstream.js';
import { useFederationBed } from './federation-bed.js';

const fed = useFederationBed();
let github: OAuth2Upstream;
let counter = 0;

beforeAll(async () => {
  github = await startOAuth2Upstream();
});
afterAll(() => github?.close());

const addGithub = (linking: 'jit-create' | 'link-by-verified-email-when-trusted', clientSecret = github.clientSecret) => fed.addUpstream({
  issuer: `${github.origin}/`,
  clientId: github.clientId,
  clientSecret,
  scopes: ['read:user', 'user:email'],
  claims: { subject: 'id', name: 'name' },
  endpoints: { authorization: `${github.origin}/login/oauth/authorize`, token: `${github.origin}/login/oauth/access_token`, userinfo: `${github.origin}/user`, emails: `${github.origin}/user/emails` },
  linking,
});

function person(extra: Partial<OAuth2User> = {}): OAuth2User {
  counter += 1;
  return { id: 4_000_000 + counter + Math.floor(Math.random() * 1_000_000), login: `octo${counter}`, name: `Octo ${counter}`, ...extra };
}

/** Login page → the upstream's button → the upstream → Gatehouse's callback → wherever Gatehouse sends the browser. */
async function signInThrough(name: string, user: OAuth2User) {
  const signIn = await SignIn.begin(fed.bed);
  const href = new RegExp(`href="(/interaction/[^"]+/upstream/${name})"`).exec(signIn.html)?.[1];
  if (!href) throw new Error(`no button for ${name} on the login page`);
  const toUpstream = await signIn.agent.request(new URL(href, fed.bed.gh.issuer).href);
  expect(toUpstream.location!.startsWith(`${github.origin}/login/oauth/authorize?`)).toBe(true);
  github.next(user);
  const atUpstream = await signIn.agent.request(toUpstream.location!);
  const { step, url } = await signIn.agent.follow(atUpstream.location!, fed.bed.gh.issuer);
  if (url.startsWith(fed.bed.gh.issuer)) signIn.page = step;
  else signIn.callback = new URL(url);
  return { signIn, step };
}

async function linksOf(accountId: string) {
  const { rows } = await fed.bed.gh.app.db.query<{ subject: string }>('SELECT subject FROM federation_links WHERE account_id = $1', [accountId]);
  return rows.map((r) => r.subject);
}

describe('sign-in through a GitHub-shaped OAuth 2.0 upstream', () => {
  it('creates an account keyed by the numeric id, with the verified primary address, and PKCE at the upstream', async () => {
    const gh = await addGithub('jit-create');
    const user = person({ email: 'public@elsewhere.example' });
    user.emails = [{ email: 'old@corp.example', primary: false, verified: true }, { email: `${user.login}@corp.example`, primary: true, verified: true }];
    const { signIn } = await signInThrough(gh.name, user);
    const claims = (await signIn.tokens()).claims()!;
    expect(claims.amr).toEqual(['fed']);
    expect(await linksOf(claims.sub)).toEqual([String(user.id)]);
    const account = await fed.bed.gh.app.services.accounts.findById(claims.sub);
    // The verified primary address from the list, not the public profile one.
    expect(account).toMatchObject({ email: `${user.login}@corp.example`, emailVerified: true });
    const asked = github.authorizations.at(-1)!;
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('state')).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(asked.get('scope')).toBe('read:user user:email');
    expect(github.refusedTokenRequests).toEqual([]);
  });

  it('never treats the public profile address as verified: it does not link an existing account by it', async () => {
    const gh = await addGithub('link-by-verified-email-when-trusted');
    const local = await fed.bed.gh.createUser();
    const email = `${local.username}@example.test`;
    // Public on the profile, and in the list but unverified.
    const { step } = await signInThrough(gh.name, person({ email, emails: [{ email, primary: true, verified: false }] }));
    expect(step.status).toBe(403);
    expect(await linksOf(local.id)).toEqual([]);

    // Once the upstream has verified it as the primary address, the trusted link is made.
    const verified = person({ email: null, emails: [{ email, primary: true, verified: true }] });
    const { signIn } = await signInThrough(gh.name, verified);
    expect((await signIn.tokens()).claims()!.sub).toBe(local.id);
    expect(await linksOf(local.id)).toEqual([String(verified.id)]);
  });

  it('ends the sign-in with a plain failure page when the upstream refuses Gatehouse\'s client secret, and creates nothing', async () => {
    const gh = await addGithub('jit-create', 'not-the-secret');
    const user = person({ emails: [{ email: 'refused@corp.example', primary: true, verified: true }] });
    const { step } = await signInThrough(gh.name, user);
    expect(step.status).toBeGreaterThanOrEqual(400);
    expect(step.status).toBeLessThan(500);
    expect(step.body).not.toMatch(/bad_verification_code|stack|at .*\.js/);
    expect(github.refusedTokenRequests.at(-1)).toBe('client');
    expect(await fed.bed.gh.app.services.accounts.find('refused@corp.example')).toBeUndefined();
  });
});
