/**
 * `roles`/`groups` claims appear exactly where a resource server asks for
 * them (RFC 9068 §7.2.1.1), and an assignment past GATEHOUSE_RBAC_CLAIM_LIMIT
 * is refused with a clear error instead of growing tokens.
 */
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { operator } from '../../../src/audit/events.js';
import { adminAudience, adminScopes } from '../../../src/resources/admin-audience.js';

const withClaims = 'https://claims.example.test';
const without = 'https://plain.example.test';

describe('RBAC claims and the claim limit', () => {
  let gh: TestGatehouse;
  let worker: { clientId: string; clientSecret: string | undefined };
  let service: oidc.Configuration;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RBAC_CLAIM_LIMIT: '2' } });
    const { resources, rbac } = gh.app.services;
    await resources.add(operator, { audience: withClaims, name: 'Claims', scopes: ['a'], accessTokenTtl: 300, tokenClaims: ['roles', 'groups'] });
    await resources.add(operator, { audience: without, name: 'Plain', scopes: ['b'], accessTokenTtl: 300 });
    await rbac.createRole(operator, { name: 'role-a', permissions: [{ audience: withClaims, scope: 'a' }] });
    await rbac.createRole(operator, { name: 'role-b', permissions: [{ audience: without, scope: 'b' }] });
    await rbac.createRole(operator, { name: 'role-c' });
    worker = await gh.createClient({ type: 'service', name: 'Worker' });
    service = await oidc.discovery(new URL(gh.issuer), worker.clientId, undefined, oidc.ClientSecretBasic(worker.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    await rbac.assign(operator, 'role-a', { kind: 'client', id: worker.clientId });
    await rbac.assign(operator, 'role-b', { kind: 'client', id: worker.clientId });
  });
  afterAll(() => gh?.close());

  it('puts the roles of that server in its tokens only, and nothing in a server without claims', async () => {
    const claims = decodeJwt((await oidc.clientCredentialsGrant(service, { resource: withClaims, scope: 'a' })).access_token);
    expect(claims.roles).toEqual(['role-a']);
    expect(claims.groups).toBeUndefined(); // a client has no groups
    const plain = decodeJwt((await oidc.clientCredentialsGrant(service, { resource: without, scope: 'b' })).access_token);
    expect(plain.scope).toBe('b');
    expect(plain.roles).toBeUndefined();
    expect(plain.groups).toBeUndefined();
  });

  it('refuses an assignment past the limit with an error that names the setting, and keeps the holder as it was', async () => {
    const { rbac } = gh.app.services;
    await expect(rbac.assign(operator, 'role-c', { kind: 'client', id: worker.clientId })).rejects.toThrow(/3 roles; at most 2 .*GATEHOUSE_RBAC_CLAIM_LIMIT/);
    expect(await rbac.rolesOf({ kind: 'client', id: worker.clientId })).toEqual(['role-a', 'role-b']);
    const user = await gh.createUser();
    for (const g of ['g1', 'g2', 'g3']) await rbac.createGroup(operator, { name: g });
    await rbac.addMember(operator, 'g1', user.id);
    await rbac.addMember(operator, 'g2', user.id);
    await expect(rbac.addMember(operator, 'g3', user.id)).rejects.toThrow(/3 groups; at most 2/);
    await rbac.assign(operator, 'role-a', { kind: 'group', id: 'g1' });
    await rbac.assign(operator, 'role-b', { kind: 'user', id: user.id });
    await expect(rbac.assign(operator, 'role-c', { kind: 'group', id: 'g2' })).rejects.toThrow(/3 roles; at most 2/);
    expect((await rbac.effective({ kind: 'user', id: user.id })).roles).toEqual(['role-a', 'role-b']);
    expect((await rbac.effective({ kind: 'user', id: user.id })).groups).toEqual(['g1', 'g2']);
  });

  it('the built-in administrator role holds every admin scope, and the auditor every read scope: a new scope without a role row would be unreachable', async () => {
    const admin = await gh.createUser();
    await gh.app.services.accounts.setAdmin(operator, admin.id, true);
    const held = await gh.app.services.rbac.effective({ kind: 'user', id: admin.id });
    expect([...held.scopesAt(adminAudience)].sort()).toEqual([...adminScopes].sort());
    const { rows } = await gh.app.db.query<{ scope: string }>("SELECT scope FROM role_permissions WHERE role = 'auditor' AND audience = $1", [adminAudience]);
    expect(rows.map((r) => r.scope).sort()).toEqual(adminScopes.filter((s) => s.endsWith('.read')).sort());
  });
});
