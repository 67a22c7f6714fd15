/**
 * A person at the admin API (issue 14 §2): an admin-marked user signs in
 * through a first-party client with code + PKCE and resource
 * urn:gatehouse:admin. The token the real token endpoint issues carries
 * `acr` and `auth_time`; reads need the scope and the marker, writes also a
 * second factor (RFC 9470 step-up challenge otherwise).
 */
import * as oidc from 'openid-client';
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
    fetch(`${bed.gh.issuer}/admin/v1${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string> | undefined) } });

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

  it('a token revoked at the revocation endpoint is refused at once, and a sign-out everywhere ends the admin\'s other tokens', async () => {
    const user = await bed.gh.createUser();
    await bed.gh.app.services.accounts.setAdmin(operator, user.id, true);
    const first = await signIn(user);
    const second = await signIn(user);
    expect((await adminGet(first, '/users')).status).toBe(200);
    await oidc.tokenRevocation(rp, first);
    const revoked = await adminGet(first, '/users');
    expect(revoked.status).toBe(401);
    expect(revoked.headers.get('www-authenticate')).toMatch(/error="invalid_token", error_description="the access token was revoked"/);
    expect((await adminGet(second, '/users')).status).toBe(200);

    await bed.gh.app.services.sessions.signOutEverywhere(operator, user.id, 'sign_out_everywhere');
    const cutOff = await adminGet(second, '/users');
    expect(cutOff.status).toBe(401);
    expect(cutOff.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  }, 120_000);

  describe('through roles (issue 15 §4)', () => {
    const wide = 'openid admin:users.read admin:users.write admin:audit.read admin:keys.read admin:keys.write admin:roles.read admin:roles.write';
    let console_: Awaited<ReturnType<TestBed['clientFor']>>;
    beforeAll(async () => {
      console_ = await bed.clientFor({ name: 'Wide console', scope: wide });
    });

    async function tokenFor(user: { username: string; password: string }, seed: string): Promise<{ token: string; scopes: string[] }> {
      const flow = await SignIn.begin(bed, { rp: console_, params: { scope: wide, resource: adminAudience } });
      await flow.password(user);
      await flow.code(await totp(seed));
      const token = (await flow.tokens()).access_token;
      const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { scope?: string };
      return { token, scopes: (claims.scope ?? '').split(' ').filter(Boolean).sort() };
    }

    it('an auditor\'s token carries only the read scopes its role holds: it reads the audit log and cannot rotate a key (403 problem)', async () => {
      const user = await bed.gh.createUser();
      await bed.gh.app.services.rbac.assign(operator, 'auditor', { kind: 'user', id: user.id });
      const { seed } = await enrolTotp(bed.gh, user.id);
      const { token, scopes } = await tokenFor(user, seed);
      // The client may ask for every scope; the token is the intersection with the auditor role.
      expect(scopes).toEqual(['admin:audit.read', 'admin:keys.read', 'admin:roles.read', 'admin:users.read']);
      expect((await adminGet(token, '/audit/events')).status).toBe(200);
      expect((await adminGet(token, '/roles')).status).toBe(200);
      expect((await adminGet(token, `/users/${user.id}/permissions`)).status).toBe(200);
      const rotate = await adminGet(token, '/keys/rotate', { method: 'POST', body: '{}' });
      expect(rotate.status).toBe(403);
      expect(rotate.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(await rotate.json()).toMatchObject({ status: 403, type: 'urn:gatehouse:problem:insufficient-scope', detail: 'This operation needs the scope admin:keys.write.' });
      expect(rotate.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="admin:keys.write"/);
      // Nor can it grant itself more.
      const escalate = await adminGet(token, `/users/${user.id}/roles/administrator`, { method: 'PUT' });
      expect(escalate.status).toBe(403);
      expect(await bed.gh.app.services.rbac.rolesOf({ kind: 'user', id: user.id })).toEqual(['auditor']);
    }, 120_000);

    it('a user without roles gets no admin scope; a key manager gets keys only; a role taken away stops a token already issued', async () => {
      const nobody = await bed.gh.createUser();
      const { seed: nobodySeed } = await enrolTotp(bed.gh, nobody.id);
      const none = await tokenFor(nobody, nobodySeed);
      expect(none.scopes).toEqual([]);
      expect((await adminGet(none.token, '/users')).status).toBe(403);

      const keeper = await bed.gh.createUser();
      await bed.gh.app.services.rbac.assign(operator, 'key-manager', { kind: 'user', id: keeper.id });
      const { seed } = await enrolTotp(bed.gh, keeper.id);
      const { token, scopes } = await tokenFor(keeper, seed);
      expect(scopes).toEqual(['admin:keys.read', 'admin:keys.write']);
      expect((await adminGet(token, '/keys')).status).toBe(200);
      expect((await adminGet(token, '/users')).status).toBe(403);
      // The role goes: the token that still names the scope is refused at the next call (the NOTIFY dropped the cache).
      await bed.gh.app.services.rbac.unassign(operator, 'key-manager', { kind: 'user', id: keeper.id });
      const after = await adminGet(token, '/keys');
      expect(after.status).toBe(403);
      expect(((await after.json()) as { detail: string }).detail).toBe('This account holds no role that grants admin:keys.read.');
    }, 120_000);

    it('through a group: the member of a group with the user-manager role manages users, and only users', async () => {
      const user = await bed.gh.createUser();
      await bed.gh.app.services.rbac.createGroup(operator, { name: 'helpdesk' });
      await bed.gh.app.services.rbac.assign(operator, 'user-manager', { kind: 'group', id: 'helpdesk' });
      await bed.gh.app.services.rbac.addMember(operator, 'helpdesk', user.id);
      const { seed } = await enrolTotp(bed.gh, user.id);
      const { token, scopes } = await tokenFor(user, seed);
      expect(scopes).toEqual(['admin:users.read', 'admin:users.write']);
      expect((await adminGet(token, `/users/${user.id}/unlock`, { method: 'POST' })).status).toBe(200);
      // users.write is not enough to make anyone administrator: the marker is a role assignment.
      const etag = (await adminGet(token, `/users/${user.id}`)).headers.get('etag')!;
      const escalate = await adminGet(token, `/users/${user.id}`, { method: 'PATCH', body: JSON.stringify({ admin: true }), headers: { 'if-match': etag } });
      expect(escalate.status).toBe(403);
      expect((await bed.gh.app.services.accounts.findById(user.id))?.admin).toBe(false);
    }, 120_000);
  });
});
