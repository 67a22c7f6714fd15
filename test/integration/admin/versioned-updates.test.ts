/**
 * Atomic If-Match for users, registration policies and roles (issue 14 §4,
 * migration 0023), and grant/revoke of single role permissions (issue 15):
 * the ETag is the row's version, which every write moves on whichever path
 * makes it, and the write is a compare-and-set, so two writers racing with
 * one ETag give exactly one 200 and one 412. Grants add rows, so concurrent
 * grants all survive. Every answer is checked against the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminCaller, adminServiceClient, createContract } from './helpers.js';

const tagPattern = /^"\d+\.[0-9a-z]+"$/;

describe('versioned If-Match and atomic role grants', () => {
  let gh: TestGatehouse;
  let call: ReturnType<typeof adminCaller>;
  let token: string;
  let readOnly: string;
  const api = 'https://orders.example.test';

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off' } });
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Record<string, unknown>;
    call = adminCaller(gh, createContract(document));
    token = await (
      await adminServiceClient(gh, ['admin:users.read', 'admin:users.write', 'admin:roles.read', 'admin:roles.write', 'admin:registration.read', 'admin:registration.write', 'admin:audit.read'])
    ).token();
    readOnly = await (await adminServiceClient(gh, ['admin:roles.read', 'admin:users.write'])).token();
    await gh.app.services.resources.add(operator, { audience: api, name: 'Orders', accessTokenTtl: 300, scopes: Array.from({ length: 12 }, (_, i) => `orders:s${i}`) });
  });
  afterAll(() => gh?.close());

  describe('PATCH /users/{id}', () => {
    it('two writers with the same ETag: exactly one 200 and one 412, and the winner’s change is what is stored', async () => {
      const user = await gh.createUser();
      for (let round = 0; round < 4; round += 1) {
        const etag = (await call('GET', `/users/${user.id}`, { token })).headers.get('etag')!;
        expect(etag).toMatch(tagPattern);
        const answers = await Promise.all(['A', 'B'].map((n) => call('PATCH', `/users/${user.id}`, { token, headers: { 'if-match': etag }, body: { name: `${n}${round}` } })));
        expect(answers.map((a) => a.status).sort(), `round ${round}`).toEqual([200, 412]);
        const winner = answers.find((a) => a.status === 200)!;
        const loser = answers.find((a) => a.status === 412)!;
        expect(loser.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect((loser.body as { type: string }).type).toBe('urn:gatehouse:problem:stale-write');
        expect((await gh.app.services.accounts.findById(user.id))!.name).toBe((winner.body as { name: string }).name);
        expect(winner.headers.get('etag')).not.toBe(etag);
        expect((await call('GET', `/users/${user.id}`, { token })).headers.get('etag')).toBe(winner.headers.get('etag'));
      }
    });

    it('the compare-and-set itself: of three service writers holding one version, exactly one wins', async () => {
      const user = await gh.createUser();
      const { accounts } = gh.app.services;
      for (let round = 0; round < 4; round += 1) {
        const { version } = (await accounts.findById(user.id))!;
        const results = await Promise.all(['x', 'y', 'z'].map((n) => accounts.update(operator, user.id, { profile: { givenName: `${n}${round}` } }, version)));
        expect(results.filter((r) => r !== 'stale'), `round ${round}`).toHaveLength(1);
        const winner = results.find((r) => r !== 'stale') as { givenName: string; version: number };
        expect(winner.version).toBeGreaterThan(version);
        expect((await accounts.findById(user.id))!.givenName).toBe(winner.givenName);
      }
    });

    it('writes by other paths (disable, password, role assignment, profile from the CLI) make an earlier ETag stale', async () => {
      const user = await gh.createUser();
      const { accounts, rbac } = gh.app.services;
      const steps: Array<[string, () => Promise<unknown>]> = [
        ['disable', () => accounts.setDisabled(operator, user.id, true)],
        ['enable', () => accounts.setDisabled(operator, user.id, false)],
        ['password', () => accounts.setPassword(operator, user.id, 'another long passphrase 42')],
        ['administrator role (the marker follows by trigger)', () => rbac.assign(operator, 'administrator', { kind: 'user', id: user.id })],
        ['profile', () => accounts.updateProfile(operator, user.id, { familyName: 'Elsewhere' })],
      ];
      for (const [what, write] of steps) {
        const before = (await call('GET', `/users/${user.id}`, { token })).headers.get('etag')!;
        await write();
        const stale = await call('PATCH', `/users/${user.id}`, { token, headers: { 'if-match': before }, body: { name: `after ${what}` } });
        expect(stale.status, what).toBe(412);
        expect((await accounts.findById(user.id))!.name, what).not.toBe(`after ${what}`);
      }
      expect((await accounts.findById(user.id))!.admin).toBe(true);
    });

    it('profile fields and the admin marker in one PATCH apply together, under one tag; 428 without If-Match; 404 for another id', async () => {
      const user = await gh.createUser();
      const etag = (await call('GET', `/users/${user.id}`, { token })).headers.get('etag')!;
      expect((await call('PATCH', `/users/${user.id}`, { token, body: { name: 'No tag' } })).status).toBe(428);
      const both = await call('PATCH', `/users/${user.id}`, { token, headers: { 'if-match': etag }, body: { name: 'Both', admin: true } });
      expect(both.status).toBe(200);
      expect(both.body).toMatchObject({ name: 'Both', admin: true });
      expect(await gh.app.services.rbac.rolesOf({ kind: 'user', id: user.id })).toEqual(['administrator']);
      // The old tag is stale for the marker alone too: nothing is assigned or removed.
      expect((await call('PATCH', `/users/${user.id}`, { token, headers: { 'if-match': etag }, body: { admin: false } })).status).toBe(412);
      expect(await gh.app.services.rbac.rolesOf({ kind: 'user', id: user.id })).toEqual(['administrator']);
      const fresh = both.headers.get('etag')!;
      // users.write without roles.write may not touch the marker, whatever the tag says.
      expect((await call('PATCH', `/users/${user.id}`, { token: readOnly, headers: { 'if-match': fresh }, body: { admin: false } })).status).toBe(403);
      const off = await call('PATCH', `/users/${user.id}`, { token, headers: { 'if-match': fresh }, body: { admin: false } });
      expect(off.status).toBe(200);
      expect(await gh.app.services.rbac.rolesOf({ kind: 'user', id: user.id })).toEqual([]);
      expect((await call('PATCH', '/users/no-such-user', { token, headers: { 'if-match': '*' }, body: { name: 'x' } })).status).toBe(404);
      await gh.app.audit.flush();
      const events = (await call('GET', `/audit/events?actor=${user.id}&type=account.admin_granted`, { token })).body as { items: unknown[] };
      expect(events.items).toHaveLength(1);
    });
  });

  describe('PUT /registration-policies/{name}', () => {
    it('two writers with the same ETag: exactly one 200 and one 412; the CLI’s `policies set` makes a tag stale', async () => {
      const created = await call('POST', '/registration-policies', { token, body: { name: 'race', description: 'first' } });
      expect(created.status).toBe(201);
      let etag = created.headers.get('etag')!;
      expect(etag).toMatch(tagPattern);
      for (let round = 0; round < 3; round += 1) {
        const answers = await Promise.all(['A', 'B'].map((n) => call('PUT', '/registration-policies/race', { token, headers: { 'if-match': etag }, body: { description: `${n}${round}`, rules: {} } })));
        expect(answers.map((a) => a.status).sort(), `round ${round}`).toEqual([200, 412]);
        const winner = answers.find((a) => a.status === 200)!;
        expect((await gh.app.services.registrationPolicies.find('race'))!.description).toBe((winner.body as { description: string }).description);
        etag = winner.headers.get('etag')!;
      }
      const { version } = (await gh.app.services.registrationPolicies.find('race'))!;
      const racers = await Promise.all(['x', 'y', 'z'].map((d) => gh.app.services.registrationPolicies.replace(operator, 'race', {}, d, version)));
      expect(racers.filter((r) => r !== 'stale')).toHaveLength(1);
      const before = (await call('GET', '/registration-policies/race', { token })).headers.get('etag')!;
      await gh.app.services.registrationPolicies.set(operator, 'race', {}, 'from the CLI');
      expect((await call('PUT', '/registration-policies/race', { token, headers: { 'if-match': before }, body: { description: 'stale', rules: {} } })).status).toBe(412);
      expect((await gh.app.services.registrationPolicies.find('race'))!.description).toBe('from the CLI');
      expect((await call('PUT', '/registration-policies/race', { token, body: { description: 'no tag', rules: {} } })).status).toBe(428);
      expect((await call('PUT', '/registration-policies/none', { token, headers: { 'if-match': '*' }, body: { rules: {} } })).status).toBe(404);
    });
  });

  describe('roles: PATCH with If-Match, POST and DELETE …/permissions', () => {
    const perm = (i: number) => ({ audience: api, scope: `orders:s${i}` });

    it('concurrent grants to one role all survive (service, and the admin API)', async () => {
      const { rbac } = gh.app.services;
      await rbac.createRole(operator, { name: 'granted', permissions: [perm(0)] });
      await Promise.all([1, 2, 3, 4, 5].map((i) => rbac.grantPermissions(operator, 'granted', [perm(i)])));
      expect((await rbac.findRole('granted'))!.permissions.map((p) => p.scope)).toEqual(['orders:s0', 'orders:s1', 'orders:s2', 'orders:s3', 'orders:s4', 'orders:s5']);
      const answers = await Promise.all([6, 7, 8].map((i) => call('POST', '/roles/granted/permissions', { token, body: { permissions: [perm(i), perm(0)] } })));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect((await rbac.findRole('granted'))!.permissions).toHaveLength(9);
      // A grant and a revoke at once: each touches only its own row.
      await Promise.all([rbac.grantPermissions(operator, 'granted', [perm(9)]), rbac.revokePermissions(operator, 'granted', [perm(0)])]);
      expect((await rbac.findRole('granted'))!.permissions.map((p) => p.scope).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `orders:s${i}`).sort());
      await gh.app.audit.flush();
      const events = (await call('GET', '/audit/events?type=role.updated&actor=granted', { token })).body as { items: Array<{ detail: { added: unknown[]; removed: unknown[] } }> };
      // Re-granting orders:s0 with s6–s8 recorded only what was new.
      expect(events.items.every((e) => e.detail.added.length + e.detail.removed.length === 1)).toBe(true);
      expect(events.items).toHaveLength(10);
    });

    it('DELETE …/permissions removes one permission; one the role lacks is 404 and changes nothing', async () => {
      await gh.app.services.rbac.createRole(operator, { name: 'trimmed', permissions: [perm(0), perm(1)] });
      const before = (await call('GET', '/roles/trimmed', { token })).headers.get('etag')!;
      const q = (i: number) => `audience=${encodeURIComponent(api)}&scope=orders:s${i}`;
      const removed = await call('DELETE', `/roles/trimmed/permissions?${q(0)}`, { token });
      expect(removed.status).toBe(200);
      expect((removed.body as { permissions: unknown[] }).permissions).toEqual([perm(1)]);
      expect(removed.headers.get('etag')).not.toBe(before);
      const missing = await call('DELETE', `/roles/trimmed/permissions?${q(0)}`, { token });
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((await call('DELETE', `/roles/trimmed/permissions?audience=${encodeURIComponent(api)}`, { token })).status).toBe(400);
      expect((await call('DELETE', `/roles/trimmed/permissions?${q(1)}&extra=1`, { token })).status).toBe(400);
      expect((await gh.app.services.rbac.findRole('trimmed'))!.permissions).toEqual([perm(1)]);
      // A revoke naming one held and one not held removes neither.
      await expect(gh.app.services.rbac.revokePermissions(operator, 'trimmed', [perm(1), perm(2)])).rejects.toThrow(/does not carry .*orders:s2/);
      expect((await gh.app.services.rbac.findRole('trimmed'))!.permissions).toEqual([perm(1)]);
    });

    it('refuses bad grants: unknown scope, empty list, unknown fields, a built-in role, no such role, a token without roles.write', async () => {
      await gh.app.services.rbac.createRole(operator, { name: 'strict' });
      const post = (body: unknown, role = 'strict', t = token) => call('POST', `/roles/${role}/permissions`, { token: t, body });
      expect((await post({ permissions: [{ audience: api, scope: 'orders:nope' }] })).status).toBe(400);
      expect((await post({ permissions: [{ audience: 'https://unknown.example.test', scope: 'x' }] })).status).toBe(400);
      expect((await post({ permissions: [] })).status).toBe(400);
      const extra = await post({ permissions: [perm(0)], description: 'x' });
      expect(extra.status).toBe(400);
      expect((extra.body as { fields: string[] }).fields).toEqual(['body.description']);
      expect((await post({ permissions: [perm(0)] }, 'auditor')).status).toBe(409);
      expect((await post({ permissions: [perm(0)] }, 'no-such-role')).status).toBe(404);
      const refused = await post({ permissions: [perm(0)] }, 'strict', readOnly);
      expect(refused.status).toBe(403);
      expect(refused.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
      expect((await call('DELETE', `/roles/strict/permissions?audience=${encodeURIComponent(api)}&scope=orders:s0`, { token: readOnly })).status).toBe(403);
      expect((await post({ permissions: [perm(0)] }, 'strict', '')).status).toBe(401);
      expect((await gh.app.services.rbac.findRole('strict'))!.permissions).toEqual([]);
    });

    it('PATCH replaces under the version: racing replaces give one 200 and one 412; a grant makes an earlier tag stale', async () => {
      await gh.app.services.rbac.createRole(operator, { name: 'replaced', permissions: [perm(0)] });
      let etag = (await call('GET', '/roles/replaced', { token })).headers.get('etag')!;
      expect(etag).toMatch(tagPattern);
      for (let round = 0; round < 3; round += 1) {
        const answers = await Promise.all([1, 2].map((i) => call('PATCH', '/roles/replaced', { token, headers: { 'if-match': etag }, body: { permissions: [perm(i + round * 2)] } })));
        expect(answers.map((a) => a.status).sort(), `round ${round}`).toEqual([200, 412]);
        const winner = answers.find((a) => a.status === 200)!;
        expect((await gh.app.services.rbac.findRole('replaced'))!.permissions).toEqual((winner.body as { permissions: unknown[] }).permissions);
        etag = winner.headers.get('etag')!;
      }
      await call('POST', '/roles/replaced/permissions', { token, body: { permissions: [perm(11)] } });
      const stale = await call('PATCH', '/roles/replaced', { token, headers: { 'if-match': etag }, body: { permissions: [] } });
      expect(stale.status).toBe(412);
      expect((await gh.app.services.rbac.findRole('replaced'))!.permissions.map((p) => p.scope)).toContain('orders:s11');
      const { version } = (await gh.app.services.rbac.findRole('replaced'))!;
      const racers = await Promise.all(['a', 'b', 'c'].map((d) => gh.app.services.rbac.updateRoleIfVersion(operator, 'replaced', { description: d }, version)));
      expect(racers.filter((r) => r !== 'stale')).toHaveLength(1);
    });
  });
});
