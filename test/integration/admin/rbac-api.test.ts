/**
 * /admin/v1/roles, /groups, /permissions and the role assignments of users
 * and clients (issue 15 §5) against one real Gatehouse, every answer checked
 * against the served OpenAPI document: CRUD with ETag/If-Match, cursor
 * pages, refusals as RFC 9457 problems (never 5xx), least privilege
 * (admin:roles.read cannot write), and the audit trail with its alert flag.
 * The assignments made here reach the token endpoint: a client given a role
 * over HTTP gets the scope by client credentials, and loses it on removal.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { adminScopes } from '../../../src/resources/admin-audience.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminCaller, adminServiceClient, createContract } from './helpers.js';

const api = 'https://orders.admin-rbac.example.test';

interface Problem {
  type: string;
  status: number;
  detail?: string;
  fields?: string[];
}

describe('admin API: roles, groups and permissions', () => {
  let gh: TestGatehouse;
  let call: ReturnType<typeof adminCaller>;
  let full: string;
  let reader: string;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off' } });
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Record<string, unknown>;
    call = adminCaller(gh, createContract(document));
    full = await (await adminServiceClient(gh, adminScopes)).token();
    reader = await (await adminServiceClient(gh, ['admin:roles.read'])).token();
    await gh.app.services.resources.add(operator, { audience: api, name: 'Orders', scopes: ['orders:read', 'orders:write'], accessTokenTtl: 300 });
  });
  afterAll(() => gh?.close());

  it('lists every permission: the admin API\'s and each resource server\'s scopes, in cursor pages', async () => {
    const seen: Array<{ audience: string; scope: string; rbac: boolean }> = [];
    let cursor: string | null = null;
    do {
      const answer = await call('GET', `/permissions?limit=5${cursor ? `&cursor=${cursor}` : ''}`, { token: reader });
      expect(answer.status).toBe(200);
      const body = answer.body as { items: typeof seen; next_cursor: string | null };
      expect(body.items.length).toBeLessThanOrEqual(5);
      seen.push(...body.items);
      cursor = body.next_cursor;
    } while (cursor);
    expect(seen.filter((p) => p.audience === 'urn:gatehouse:admin').map((p) => p.scope).sort()).toEqual([...adminScopes].sort());
    expect(seen.filter((p) => p.audience === api)).toEqual([
      { audience: api, scope: 'orders:read', resource_name: 'Orders', rbac: true },
      { audience: api, scope: 'orders:write', resource_name: 'Orders', rbac: true },
    ]);
    expect(new Set(seen.map((p) => `${p.audience} ${p.scope}`)).size).toBe(seen.length);
    const bad = await call('GET', '/permissions?cursor=***', { token: reader });
    expect(bad.status).toBe(400);
  });

  it('creates, reads, pages, updates with If-Match and deletes a role; built-in roles stay fixed', async () => {
    const created = await call('POST', '/roles', { token: full, body: { name: 'orders-reader', description: 'Reads orders', permissions: [{ audience: api, scope: 'orders:read' }] } });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/admin/v1/roles/orders-reader');
    expect(created.body).toMatchObject({ name: 'orders-reader', built_in: false, permissions: [{ audience: api, scope: 'orders:read' }] });

    const again = await call('POST', '/roles', { token: full, body: { name: 'orders-reader' } });
    expect(again.status).toBe(409);
    expect((again.body as Problem).detail).toBe('a role named orders-reader already exists');
    const unknownScope = await call('POST', '/roles', { token: full, body: { name: 'ghost', permissions: [{ audience: api, scope: 'orders:delete' }] } });
    expect(unknownScope.status).toBe(400);
    expect((unknownScope.body as Problem).detail).toBe(`${api} has no scope orders:delete`);
    const badName = await call('POST', '/roles', { token: full, body: { name: 'Not A Name' } });
    expect(badName.status).toBe(400);
    expect((badName.body as Problem).fields).toEqual(['body.name']);
    const extra = await call('POST', '/roles', { token: full, body: { name: 'ghost', built_in: true } });
    expect(extra.status).toBe(400);
    expect((extra.body as Problem).fields).toEqual(['body.built_in']);

    // Pages by name: the built-in four and ours, two at a time, nothing skipped or repeated.
    const names: string[] = [];
    let cursor: string | null = null;
    do {
      const answer = await call('GET', `/roles?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: reader });
      const body = answer.body as { items: Array<{ name: string }>; next_cursor: string | null };
      names.push(...body.items.map((r) => r.name));
      cursor = body.next_cursor;
    } while (cursor);
    expect(names).toEqual(['administrator', 'auditor', 'key-manager', 'orders-reader', 'user-manager']);

    const read = await call('GET', '/roles/orders-reader', { token: reader });
    const etag = read.headers.get('etag')!;
    expect(etag).toMatch(/^"\d+\.[0-9a-z]+"$/);
    const noIfMatch = await call('PATCH', '/roles/orders-reader', { token: full, body: { description: 'x' } });
    expect(noIfMatch.status).toBe(428);
    const stale = await call('PATCH', '/roles/orders-reader', { token: full, body: { description: 'x' }, headers: { 'if-match': '"stale"' } });
    expect(stale.status).toBe(412);
    const updated = await call('PATCH', '/roles/orders-reader', {
      token: full,
      body: { permissions: [{ audience: api, scope: 'orders:read' }, { audience: api, scope: 'orders:write' }] },
      headers: { 'if-match': etag },
    });
    expect(updated.status).toBe(200);
    expect((updated.body as { permissions: unknown[] }).permissions).toHaveLength(2);
    expect(updated.headers.get('etag')).not.toBe(etag);
    // The first tag is stale now: no lost update.
    expect((await call('PATCH', '/roles/orders-reader', { token: full, body: { description: 'y' }, headers: { 'if-match': etag } })).status).toBe(412);

    const builtIn = await call('GET', '/roles/auditor', { token: reader });
    expect(builtIn.body).toMatchObject({ built_in: true });
    const changeBuiltIn = await call('PATCH', '/roles/auditor', { token: full, body: { description: 'mine' }, headers: { 'if-match': builtIn.headers.get('etag')! } });
    expect(changeBuiltIn.status).toBe(409);
    expect((await call('DELETE', '/roles/administrator', { token: full })).status).toBe(409);
    expect((await call('GET', '/roles/administrator', { token: reader })).status).toBe(200);

    expect((await call('POST', '/roles', { token: full, body: { name: 'scratch' } })).status).toBe(201);
    expect((await call('DELETE', '/roles/scratch', { token: full })).status).toBe(204);
    expect((await call('GET', '/roles/scratch', { token: reader })).status).toBe(404);
    expect((await call('DELETE', '/roles/scratch', { token: full })).status).toBe(404);
  });

  it('groups, members and assignments; a user\'s roles and effective permissions', async () => {
    const user = await gh.createUser();
    expect((await call('POST', '/groups', { token: full, body: { name: 'support', description: 'Support desk' } })).status).toBe(201);
    expect((await call('POST', '/groups', { token: full, body: { name: 'support' } })).status).toBe(409);
    expect((await call('PUT', `/groups/support/members/${user.id}`, { token: full })).status).toBe(204);
    expect((await call('PUT', `/groups/support/members/${user.id}`, { token: full })).status).toBe(204);
    // An id names one account: a username in its place is not looked up.
    expect((await call('PUT', `/groups/support/members/${user.username}`, { token: full })).status).toBe(404);
    expect((await call('PUT', `/groups/nowhere/members/${user.id}`, { token: full })).status).toBe(404);
    expect((await call('PUT', '/groups/support/roles/orders-reader', { token: full })).status).toBe(204);
    expect((await call('PUT', '/groups/support/roles/no-such-role', { token: full })).status).toBe(404);
    const group = await call('GET', '/groups/support', { token: reader });
    expect(group.body).toMatchObject({ name: 'support', description: 'Support desk', members: [user.id], roles: ['orders-reader'] });
    const groups = await call('GET', '/groups', { token: reader });
    expect((groups.body as { items: Array<{ name: string }> }).items.map((g) => g.name)).toEqual(['support']);

    expect((await call('PUT', `/users/${user.id}/roles/auditor`, { token: full })).status).toBe(204);
    expect((await call('GET', `/users/${user.id}/roles`, { token: reader })).body).toEqual({ items: ['auditor'] });
    const effective = await call('GET', `/users/${user.id}/permissions`, { token: reader });
    expect(effective.status).toBe(200);
    const body = effective.body as { roles: string[]; groups: string[]; permissions: Array<{ audience: string; scope: string; via: unknown[] }> };
    expect(body.roles).toEqual(['auditor', 'orders-reader']);
    expect(body.groups).toEqual(['support']);
    expect(body.permissions.filter((p) => p.audience === api)).toEqual([
      { audience: api, scope: 'orders:read', via: [{ role: 'orders-reader', group: 'support' }] },
      { audience: api, scope: 'orders:write', via: [{ role: 'orders-reader', group: 'support' }] },
    ]);
    expect(body.permissions.find((p) => p.scope === 'admin:audit.read')?.via).toEqual([{ role: 'auditor' }]);
    expect((await call('GET', '/users/no-such-user/permissions', { token: reader })).status).toBe(404);
    expect((await call('PUT', '/users/no-such-user/roles/auditor', { token: full })).status).toBe(404);

    expect((await call('DELETE', `/users/${user.id}/roles/auditor`, { token: full })).status).toBe(204);
    expect((await call('DELETE', `/users/${user.id}/roles/auditor`, { token: full })).status).toBe(204);
    expect((await call('DELETE', '/groups/support/roles/orders-reader', { token: full })).status).toBe(204);
    expect((await call('DELETE', `/groups/support/members/${user.id}`, { token: full })).status).toBe(204);
    expect(((await call('GET', `/users/${user.id}/permissions`, { token: reader })).body as typeof body).permissions).toEqual([]);
    expect((await call('DELETE', '/groups/support', { token: full })).status).toBe(204);
    expect((await call('GET', '/groups/support', { token: reader })).status).toBe(404);
  });

  it('a client given a role over HTTP gets its scope by client credentials, and not after removal', async () => {
    const { clientId, clientSecret } = await gh.createClient({ type: 'service', name: 'Billing' });
    const rp = await oidc.discovery(new URL(gh.issuer), clientId, undefined, oidc.ClientSecretBasic(clientSecret!), { execute: [oidc.allowInsecureRequests] });
    const scopeOf = async () => (await oidc.clientCredentialsGrant(rp, { resource: api, scope: 'orders:read' })).scope ?? '';
    expect(await scopeOf()).toBe('');
    expect((await call('PUT', `/clients/${clientId}/roles/orders-reader`, { token: full })).status).toBe(204);
    expect((await call('GET', `/clients/${clientId}/roles`, { token: reader })).body).toEqual({ items: ['orders-reader'] });
    expect(await scopeOf()).toBe('orders:read');
    expect((await call('DELETE', `/clients/${clientId}/roles/orders-reader`, { token: full })).status).toBe(204);
    expect(await scopeOf()).toBe('');
    expect((await call('GET', '/clients/no-such-client/roles', { token: reader })).status).toBe(404);
  });

  it('least privilege: admin:roles.read reads and cannot write; users.write cannot set the admin marker', async () => {
    for (const [method, path, body] of [
      ['POST', '/roles', { name: 'sneaky' }],
      ['PUT', '/users/x/roles/administrator', undefined],
      ['PUT', '/groups/g/members/x', undefined],
      ['DELETE', '/roles/orders-reader', undefined],
    ] as const) {
      const answer = await call(method, path, { token: reader, ...(body ? { body } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.headers.get('www-authenticate')).toMatch(/error="insufficient_scope".*scope="admin:roles.write"/);
    }
    const manager = await (await adminServiceClient(gh, ['admin:users.read', 'admin:users.write'])).token();
    const user = await gh.createUser();
    const read = await call('GET', `/users/${user.id}`, { token: manager });
    const escalate = await call('PATCH', `/users/${user.id}`, { token: manager, body: { admin: true }, headers: { 'if-match': read.headers.get('etag')! } });
    expect(escalate.status).toBe(403);
    expect((escalate.body as Problem).detail).toBe('Changing admin needs the scope admin:roles.write.');
    const granted = await call('PATCH', `/users/${user.id}`, { token: full, body: { admin: true }, headers: { 'if-match': read.headers.get('etag')! } });
    expect(granted.status).toBe(200);
    expect(await gh.app.services.rbac.rolesOf({ kind: 'user', id: user.id })).toEqual(['administrator']);
  });

  it('every change is audited with the admin caller as actor; admin grants carry the alert flag', async () => {
    const user = await gh.createUser();
    expect((await call('PUT', `/users/${user.id}/roles/key-manager`, { token: full })).status).toBe(204);
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ type: string; actor: string; detail: Record<string, unknown> }>(
      "SELECT type, actor, detail FROM audit_events WHERE type LIKE 'role.%' OR type LIKE 'group.%' ORDER BY seq",
    );
    const types = new Set(rows.map((r) => r.type));
    for (const t of ['role.created', 'role.updated', 'role.removed', 'role.assigned', 'role.unassigned', 'group.created', 'group.removed', 'group.member_added', 'group.member_removed']) expect(types, t).toContain(t);
    for (const r of rows.filter((r) => r.actor !== 'operator')) expect(r.actor).toMatch(/^admin:/);
    const grant = rows.findLast((r) => r.type === 'role.assigned');
    expect(grant?.detail).toMatchObject({ holder: { kind: 'user', id: user.id }, adminPermission: true });
    // The router records no second `admin.call` for an operation its service audits.
    const calls = await gh.app.db.query<{ n: number }>("SELECT count(*)::integer AS n FROM audit_events WHERE type = 'admin.call' AND subject = 'assignUserRole'");
    expect(calls.rows[0]!.n).toBe(0);
  });
});
