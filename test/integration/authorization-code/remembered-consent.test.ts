/**
 * Consent remembered across sign-in sessions: a user who allowed a client is
 * not asked again in a new browser session while the grant stands, is asked
 * for exactly what a request adds, and is asked again once the grant is
 * revoked or expired, or when the client sends prompt=consent. Driven through
 * the real pages with openid-client as the relying party.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as oidc from 'openid-client';

import { UserAgent } from '../../support/user-agent.js';
import { SignIn, startTestBed, type TestBed } from '../mfa/sign-in-flow.js';

describe('remembered consent', () => {
  let bed: TestBed;
  let rp: oidc.Configuration;
  let clientId: string;

  beforeAll(async () => {
    bed = await startTestBed();
    // Not first-party: its users see the consent page.
    rp = await bed.clientFor({ name: 'Acme Photos', firstParty: false });
    clientId = rp.clientMetadata().client_id;
  });
  afterAll(() => bed?.gh.close());

  /** A sign-in in a browser of its own (a new session): password, then consent if asked. Says whether consent was asked. */
  async function signIn(user: { username: string; password: string }, params: Record<string, string> = {}): Promise<{ askedFor: string | undefined; claims: Record<string, unknown> }> {
    const flow = await SignIn.begin(bed, { rp, agent: new UserAgent(), params: { scope: 'openid email', ...params } });
    expect(flow.title).toBe('Sign in');
    await flow.password(user);
    let askedFor: string | undefined;
    if (!flow.callback) {
      expect(flow.title).toBe('Allow access');
      askedFor = [...flow.html.matchAll(/<li>([^<]+)<\/li>/g)].map((m) => m[1]).join(' | ');
      await flow.submit('confirm');
    }
    const tokens = await flow.tokens();
    return { askedFor, claims: tokens.claims() as unknown as Record<string, unknown> };
  }

  it('asks once, then not again in a new session while the grant stands', async () => {
    const user = await bed.gh.createUser();
    const first = await signIn(user);
    expect(first.askedFor).toBeDefined();
    const second = await signIn(user);
    expect(second.askedFor).toBeUndefined();
    expect(second.claims.sub).toBe(user.id);
    expect(await signIn(user)).toMatchObject({ askedFor: undefined });
  });

  it('asks only for what a later request adds, then remembers that too', async () => {
    const user = await bed.gh.createUser();
    await signIn(user);
    const wider = await signIn(user, { scope: 'openid email profile' });
    // Exactly the added scope (src/interactions/scopes.ts words), not the email already allowed.
    expect(wider.askedFor).toBe('Your name and username');
    expect((await signIn(user, { scope: 'openid email profile' })).askedFor).toBeUndefined();
    // Asking for less than was allowed needs no consent either.
    expect((await signIn(user, { scope: 'openid' })).askedFor).toBeUndefined();
  });

  it('asks again after the grant is revoked or has expired', async () => {
    const user = await bed.gh.createUser();
    await signIn(user);
    const grantId = await bed.gh.app.services.artifacts.latestGrantId(user.id, clientId);
    expect(grantId).toBeDefined();
    await bed.gh.app.services.artifacts.revokeGrant(grantId!);
    expect((await signIn(user)).askedFor).toBeDefined();
    expect((await signIn(user)).askedFor).toBeUndefined();
    await bed.gh.app.db.query("UPDATE oidc_models SET expires_at = now() - interval '1 second' WHERE model = 'Grant' AND payload->>'accountId' = $1", [user.id]);
    expect((await signIn(user)).askedFor).toBeDefined();
  });

  it('asks when the client sends prompt=consent, and never lends one user\'s consent to another', async () => {
    const user = await bed.gh.createUser();
    await signIn(user);
    expect((await signIn(user, { prompt: 'consent' })).askedFor).toBeDefined();
    const someoneElse = await bed.gh.createUser();
    expect((await signIn(someoneElse)).askedFor).toBeDefined();
    // Nor one client's to another.
    rp = await bed.clientFor({ name: 'Acme Maps', firstParty: false });
    try {
      expect((await signIn(user)).askedFor).toBeDefined();
    } finally {
      rp = await bed.clientFor({ name: 'Acme Photos', firstParty: false });
      clientId = rp.clientMetadata().client_id;
    }
  });
});
