/**
 * `gatehouse roles …` and `gatehouse groups …` (issue 15 §5) in-process
 * against a fresh database: every subcommand, its --json shape, refusals as
 * clean one-line errors, the audit trail, and the admin marker following the
 * administrator role both ways.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cli, withServices, type CliResult } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

const api = 'https://orders.example.test';

function ok<T = Record<string, unknown>>(result: CliResult): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

function refused(result: CliResult, message: RegExp): void {
  expect(result.code, result.stdout).toBe(1);
  expect(result.stderr).toMatch(/^gatehouse: /);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toMatch(/\b(SELECT|INSERT|UPDATE|DELETE)\b/);
}

describe('gatehouse roles and groups', () => {
  let db: TestDatabase;
  let alice: string;
  let clientId: string;
  const run = (...args: string[]) => cli(db, args);

  beforeAll(async () => {
    db = await freshDatabase(integrationDbKind());
    ok(await run('resources', 'add', '--audience', api, '--name', 'Orders', '--scope', 'orders:read', '--scope', 'orders:write', '--json'));
    const added = await cli(db, ['users', 'add', 'alice', '--password-stdin'], { stdin: 'correct horse battery staple\n' });
    expect(added.code, added.stderr).toBe(0);
    alice = added.stdout.trim();
    clientId = ok<{ client_id: string }>(await run('clients', 'add', '--type', 'service', '--name', 'Billing', '--json')).client_id;
  }, 120_000);
  afterAll(async () => db?.cleanup());

  it('--help names every subcommand', async () => {
    const roles = await run('roles', '--help');
    expect(roles.code).toBe(0);
    for (const sub of ['list', 'show', 'add', 'update', 'delete', 'grant', 'revoke', 'assign', 'unassign', 'effective']) expect(roles.stdout).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'));
    const groups = await run('groups', '--help');
    expect(groups.code).toBe(0);
    for (const sub of ['list', 'show', 'add', 'delete', 'add-member', 'remove-member', 'assign', 'unassign']) expect(groups.stdout).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'));
    expect((await run('roles', 'assign', '--help')).stdout).toMatch(/--client <client-id>/);
  });

  it('lists the built-in admin roles, which cannot be changed or deleted', async () => {
    const roles = ok<Array<{ name: string; built_in: boolean; permissions: Array<{ audience: string; scope: string }> }>>(await run('roles', 'list', '--json'));
    const byName = new Map(roles.map((r) => [r.name, r]));
    expect(byName.get('administrator')?.built_in).toBe(true);
    expect(byName.get('administrator')?.permissions.map((p) => p.scope)).toEqual(expect.arrayContaining(['admin:roles.write', 'admin:keys.write', 'admin:audit.read']));
    const auditor = byName.get('auditor')!.permissions.map((p) => p.scope);
    expect(auditor).toContain('admin:audit.read');
    expect(auditor).toContain('admin:roles.read');
    expect(auditor.filter((s) => s.endsWith('.write'))).toEqual([]);
    refused(await run('roles', 'update', 'auditor', '--description', 'x'), /auditor is a built-in role and cannot be changed/);
    refused(await run('roles', 'delete', 'administrator'), /built-in role and cannot be removed/);
    refused(await run('roles', 'grant', 'auditor', 'urn:gatehouse:admin#admin:keys.write'), /built-in role/);
    expect((await run('roles', 'list')).stdout).toMatch(/^NAME\s+BUILT-IN\s+PERMISSIONS/m);
  });

  it('adds, shows, grants, revokes, updates and deletes a role; refusals are clean', async () => {
    const role = ok<{ name: string; permissions: unknown[]; built_in: boolean }>(
      await run('roles', 'add', 'orders-reader', '--description', 'Reads orders', '--permission', `${api}#orders:read`, '--json'),
    );
    expect(role).toMatchObject({ name: 'orders-reader', built_in: false, permissions: [{ audience: api, scope: 'orders:read' }] });
    refused(await run('roles', 'add', 'orders-reader'), /a role named orders-reader already exists/);
    refused(await run('roles', 'add', 'ghost', '--permission', `${api}#orders:delete`), /has no scope orders:delete/);
    refused(await run('roles', 'add', 'ghost', '--permission', 'https://nowhere.example.test#read'), /no resource server is registered/);
    refused(await run('roles', 'add', 'Bad Name'), /lower-case letters/);
    const noHash = await run('roles', 'add', 'ghost', '--permission', 'orders:read');
    expect(noHash.code).not.toBe(0);
    expect(noHash.stderr).toMatch(/expected <audience>#<scope>/);

    const granted = ok<{ permissions: Array<{ scope: string }> }>(await run('roles', 'grant', 'orders-reader', `${api}#orders:write`, '--json'));
    expect(granted.permissions.map((p) => p.scope)).toEqual(['orders:read', 'orders:write']);
    const revoked = ok<{ permissions: Array<{ scope: string }> }>(await run('roles', 'revoke', 'orders-reader', `${api}#orders:write`, '--json'));
    expect(revoked.permissions.map((p) => p.scope)).toEqual(['orders:read']);
    refused(await run('roles', 'revoke', 'orders-reader', `${api}#orders:write`), /does not carry/);
    refused(await run('roles', 'grant', 'nobody-role', `${api}#orders:read`), /no such role: nobody-role/);

    const shown = await run('roles', 'show', 'orders-reader');
    expect(shown.stdout).toMatch(/^permissions:\s+https:\/\/orders\.example\.test#orders:read$/m);
    refused(await run('roles', 'update', 'orders-reader'), /nothing to change/);
    const updated = ok<{ description: string; permissions: unknown[] }>(await run('roles', 'update', 'orders-reader', '--description', 'Only reads', '--json'));
    expect(updated).toMatchObject({ description: 'Only reads', permissions: [{ scope: 'orders:read' }] });

    ok(await run('roles', 'add', 'scratch', '--json'));
    expect((await run('roles', 'delete', 'scratch')).stdout).toBe('deleted role scratch\n');
    refused(await run('roles', 'show', 'scratch'), /no such role: scratch/);
  });

  it('two `roles grant` at once to one role: both permissions survive (rows added, not the set rewritten)', async () => {
    ok(await run('roles', 'add', 'orders-both', '--json'));
    const grants = [`${api}#orders:read`, `${api}#orders:write`].map((p) => () => run('roles', 'grant', 'orders-both', p, '--json'));
    // Two processes on PostgreSQL race for real; the embedded database admits one process at a time, so there they run in turn.
    const results = integrationDbKind() === 'postgres' ? await Promise.all(grants.map((g) => g())) : [await grants[0]!(), await grants[1]!()];
    for (const result of results) ok(result);
    const shown = ok<{ permissions: Array<{ scope: string }> }>(await run('roles', 'show', 'orders-both', '--json'));
    expect(shown.permissions.map((p) => p.scope)).toEqual(['orders:read', 'orders:write']);
    // A revoke naming one held and one not held is refused and removes neither.
    refused(await run('roles', 'revoke', 'orders-both', `${api}#orders:read`, 'urn:gatehouse:admin#admin:keys.read'), /does not carry urn:gatehouse:admin#admin:keys.read/);
    expect(ok<{ permissions: unknown[] }>(await run('roles', 'show', 'orders-both', '--json')).permissions).toHaveLength(2);
  });

  it('assigns to a user, a group and a client; effective permissions say where each comes from', async () => {
    ok(await run('roles', 'add', 'orders-writer', '--permission', `${api}#orders:write`, '--json'));
    refused(await run('roles', 'assign', 'orders-reader'), /name exactly one holder/);
    refused(await run('roles', 'assign', 'orders-reader', '--user', 'alice', '--client', clientId), /name exactly one holder/);
    refused(await run('roles', 'assign', 'orders-reader', '--user', 'nobody'), /no such account: nobody/);
    refused(await run('roles', 'assign', 'orders-reader', '--client', 'no-such-client'), /no such client: no-such-client/);
    refused(await run('roles', 'assign', 'orders-reader', '--group', 'no-such-group'), /no such group: no-such-group/);

    expect((await run('roles', 'assign', 'orders-reader', '--user', 'alice')).stdout).toBe(`user ${alice} holds orders-reader\n`);
    ok(await run('roles', 'assign', 'orders-reader', '--client', clientId, '--json'));
    const group = ok<{ name: string; members: string[] }>(await run('groups', 'add', 'support', '--description', 'Support desk', '--json'));
    expect(group).toMatchObject({ name: 'support', members: [] });
    refused(await run('groups', 'add', 'support'), /a group named support already exists/);
    expect(ok<{ members: string[] }>(await run('groups', 'add-member', 'support', 'alice', '--json')).members).toEqual([alice]);
    expect(ok<{ roles: string[] }>(await run('groups', 'assign', 'support', 'orders-writer', '--json')).roles).toEqual(['orders-writer']);
    refused(await run('groups', 'add-member', 'support', 'nobody'), /no such account: nobody/);
    refused(await run('groups', 'add-member', 'nowhere', 'alice'), /no such group: nowhere/);

    const effective = ok<{ roles: string[]; groups: string[]; permissions: Array<{ scope: string; via: unknown[] }> }>(await run('roles', 'effective', '--user', 'alice', '--json'));
    expect(effective.roles).toEqual(['orders-reader', 'orders-writer']);
    expect(effective.groups).toEqual(['support']);
    expect(effective.permissions).toEqual([
      { audience: api, scope: 'orders:read', via: [{ role: 'orders-reader' }] },
      { audience: api, scope: 'orders:write', via: [{ role: 'orders-writer', group: 'support' }] },
    ]);
    const client = ok<{ permissions: Array<{ scope: string }> }>(await run('roles', 'effective', '--client', clientId, '--json'));
    expect(client.permissions.map((p) => p.scope)).toEqual(['orders:read']);
    expect((await run('roles', 'effective', '--user', 'alice')).stdout).toMatch(/orders:write {2}\(orders-writer via support\)/);
    expect((await run('groups', 'list')).stdout).toMatch(/^support\s+1\s+orders-writer\s+Support desk$/m);

    ok(await run('groups', 'unassign', 'support', 'orders-writer', '--json'));
    ok(await run('groups', 'remove-member', 'support', 'alice', '--json'));
    refused(await run('groups', 'remove-member', 'support', 'alice'), /is not a member of support/);
    expect((await run('roles', 'unassign', 'orders-reader', '--client', clientId)).stdout).toBe(`client ${clientId} no longer holds orders-reader\n`);
    refused(await run('roles', 'unassign', 'orders-reader', '--client', clientId), /does not hold the role orders-reader/);
    expect(ok<{ permissions: unknown[] }>(await run('roles', 'effective', '--client', clientId, '--json')).permissions).toEqual([]);
    expect((await run('groups', 'delete', 'support')).stdout).toBe('deleted group support\n');
    refused(await run('groups', 'show', 'support'), /no such group: support/);
  });

  it('the admin marker and the administrator role are one thing, both ways', async () => {
    const granted = await run('users', 'set-admin', 'alice');
    expect(granted.code, granted.stderr).toBe(0);
    expect(ok<{ roles: string[] }>(await run('roles', 'effective', '--user', 'alice', '--json')).roles).toContain('administrator');
    ok(await run('roles', 'unassign', 'administrator', '--user', alice, '--json'));
    expect(ok<{ admin: boolean }>(await run('users', 'show', 'alice', '--json')).admin).toBe(false);
    ok(await run('roles', 'assign', 'administrator', '--user', 'alice', '--json'));
    expect(ok<{ admin: boolean }>(await run('users', 'show', 'alice', '--json')).admin).toBe(true);
  });

  it('every change was audited with the operator as actor, admin grants flagged', async () => {
    const events = await withServices(db, async (_services, database) => (await database.query<{ type: string; actor: string; detail: Record<string, unknown> }>(
      "SELECT type, actor, detail FROM audit_events WHERE type LIKE 'role.%' OR type LIKE 'group.%' ORDER BY seq")).rows);
    const types = new Set(events.map((e) => e.type));
    for (const t of ['role.created', 'role.updated', 'role.removed', 'role.assigned', 'role.unassigned', 'group.created', 'group.removed', 'group.member_added', 'group.member_removed']) expect(types, t).toContain(t);
    expect(new Set(events.map((e) => e.actor))).toEqual(new Set(['operator']));
    const adminGrant = events.find((e) => e.type === 'role.assigned' && (e.detail['holder'] as { id?: string }).id === alice && e.detail['adminPermission'] === true);
    expect(adminGrant).toBeDefined();
  });
});
