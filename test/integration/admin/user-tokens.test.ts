/**
 * A person at the admin API (issue 14 §2): an admin-marked user signs in
 * through a first-party client with code + PKCE and resource
 * urn:gatehouse:admin. The token the real token endpoint issues carries
 * `acr` and `auth_time`; reads need the scope and the marker, writes also a
 * second factor (RFC 9470 step-up challenge otherwise).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { adminAudience } from '../../../src/resources/admin-audience.js';
import { acrMfa, acrPwd, enrolTotp, SignIn, startTestBed, totp, type TestBed } from '../mfa/sign-in-flow.js';

describe('admin API with a user token', () => {
  let bed: TestBed;
  let rp: Awaited<ReturnType<TestBed['clientFor']>>;
  const scope = 'openid admin:users.read admin:users.write';

  beforeAll(async () => {
    bed = await startTestBed({ GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off' });
    rp = await bed.clientFor({ name: 'Console', scope });
  });
  afterAll(() => bed?.gh.close());

  const adminGet = (token: string, path: string, init: RequestInit = {}) =>
    fetch(`${bed.gh.issuer}/admin/v1${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) } });

  async function signIn(user: { username: string; password: string }, seed?: string): Promise<string> {
    const flow = await SignIn.begin(bed, { rp, params: { scope, resource: adminAudience } });
    await flow.password(user);
    if (seed) await flow.code(await totp(seed));
    return (await flow.tokens()).access_token;
  }

  it('password only: reads pass, writes get the step-up challenge; with the second factor writes pass', async () => {
    const user = await bed.gh.createUser();
    await bed.gh.app.services.accounts.setAdmin(operator, user.id, true);
    const passwordOnly = await signIn(user);
    const claims = JSON.parse(Buffer.from(passwordOnly.split('.')[1]!, 'base64url').toString()) as { acr: string; auth_time: number; sub: string };
    expect(claims).toMatchObject({ acr: acrPwd, sub: user.id });
    expect(Math.abs(claims.auth_time - Date.now() / 1000)).toBeLessThan(60);

    expect((await adminGet(passwordOnly, '/users')).status).toBe(200);
    const write = await adminGet(passwordOnly, `/users/${user.id}/unlock`, { method: 'POST' });
    expect(write.status).toBe(401);
    expect(write.headers.get('www-authenticate')).toMatch(/error="insufficient_user_authentication".*acr_values="urn:gatehouse:acr:mfa", max_age=300/);

    const { seed } = await enrolTotp(bed.gh, user.id);
    const withMfa = await signIn(user, seed);
    expect(JSON.parse(Buffer.from(withMfa.split('.')[1]!, 'base64url').toString())).toMatchObject({ acr: acrMfa });
    expect((await adminGet(withMfa, `/users/${user.id}/unlock`, { method: 'POST' })).status).toBe(200);

    // Without the marker the same kind of token is refused, reads too.
    await bed.gh.app.services.accounts.setAdmin(operator, user.id, false);
    expect((await adminGet(withMfa, '/users')).status).toBe(403);
  }, 120_000);
});
