/**
 * Roles and permissions (issue 15, docs/rbac.md). A permission is a scope of a
 * resource server; roles carry permissions; users, groups and clients hold
 * roles; group members hold their group's roles. Every change is audited with
 * its actor; a change that grants or removes an admin API permission says so
 * (`detail.adminPermission`), which the admin-action alert matches whoever
 * the actor is (src/audit/alerts.ts).
 */
import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { Db, Queryable } from '../db/index.js';
import { adminAudience, adminScopes } from '../resources/admin-audience.js';
import { isAdminPermission } from './built-in.js';
import { createPermissionReader, cacheKey, type Effective, type PermissionReader, type Subject } from './effective.js';
import { createGroupOperations } from './groups.js';
import { createRoleChanges } from './role-changes.js';
import { holderSchema, newRoleSchema, rbacNameSchema, type Holder, type NewGroup, type NewRole, type Permission, type RoleChange } from './schemas.js';
import { createRbacStore, type RoleRow } from './store.js';
import { RbacError, toRole, type Group, type Role } from './model.js';

export type { Effective, Group, Holder, Permission, Role, Subject };
export { RbacError };

export interface RbacService {
  /** The effective-permission cache, which the composition root starts and stops. */
  permissions: PermissionReader;
  createRole(actor: Actor, input: NewRole): Promise<Role>;
  /** Changes the description or replaces the whole permission set (`roles set`). */
  updateRole(actor: Actor, name: string, change: RoleChange): Promise<Role>;
  /** The same, if the role's version is still `expectedVersion` (PATCH with If-Match); 'stale' when another write came first. */
  updateRoleIfVersion(actor: Actor, name: string, change: RoleChange, expectedVersion: number): Promise<Role | 'stale'>;
  /** Adds permissions row by row: a concurrent grant to the same role is never lost (`roles grant`, POST …/permissions). */
  grantPermissions(actor: Actor, name: string, permissions: readonly Permission[]): Promise<Role>;
  /** Removes the permissions named, all or none (`roles revoke`, DELETE …/permissions). */
  revokePermissions(actor: Actor, name: string, permissions: readonly Permission[]): Promise<Role>;
  removeRole(actor: Actor, name: string): Promise<void>;
  findRole(name: string): Promise<Role | undefined>;
  listRoles(): Promise<Role[]>;
  createGroup(actor: Actor, input: NewGroup): Promise<Group>;
  removeGroup(actor: Actor, name: string): Promise<void>;
  findGroup(name: string): Promise<Group | undefined>;
  listGroups(): Promise<Group[]>;
  addMember(actor: Actor, group: string, accountId: string): Promise<void>;
  removeMember(actor: Actor, group: string, accountId: string): Promise<void>;
  assign(actor: Actor, role: string, holder: Holder): Promise<void>;
  unassign(actor: Actor, role: string, holder: Holder): Promise<void>;
  /** The roles assigned to a holder itself (not through groups). */
  rolesOf(holder: Holder): Promise<string[]>;
  /** A user's or client's effective permissions (cached). */
  effective(subject: Subject): Promise<Effective>;
}

export interface RbacDeps {
  audit: Audit;
  /** Scopes a registered resource server accepts; undefined when none is registered at that audience. */
  resourceScopes(audience: string): Promise<readonly string[] | undefined>;
  userExists(id: string): Promise<boolean>;
  clientExists(id: string): Promise<boolean>;
  /** GATEHOUSE_RBAC_CLAIM_LIMIT: most roles, and most groups, one subject may hold (they become token claims). */
  claimLimit: number;
}

const carriesAdmin = (permissions: readonly Permission[]) => permissions.some((p) => isAdminPermission(p.audience));

export function createRbacService(db: Db, deps: RbacDeps): RbacService {
  const store = createRbacStore(db);
  const permissions = createPermissionReader(db, store);
  const { audit } = deps;

  async function checkPermissions(list: readonly Permission[]): Promise<void> {
    const known = new Map<string, readonly string[] | undefined>();
    for (const p of list) {
      if (!known.has(p.audience)) known.set(p.audience, p.audience === adminAudience ? adminScopes : await deps.resourceScopes(p.audience));
      const scopes = known.get(p.audience);
      if (!scopes) throw new RbacError(`no resource server is registered for ${p.audience}`);
      if (!scopes.includes(p.scope)) throw new RbacError(`${p.audience} has no scope ${p.scope}`);
    }
  }

  async function mustFindRole(name: string, executor?: Queryable): Promise<RoleRow> {
    const row = await store.findRole(name, executor);
    if (!row) throw new RbacError(`no such role: ${name}`, 'not_found');
    return row;
  }

  /** Refuses a change that would give one user more roles or groups than tokens may carry. */
  async function checkClaimLimit(tx: Queryable, users: { accountId: string } | { group: string }): Promise<void> {
    const largest = await store.largestHolding(tx, users);
    const limit = deps.claimLimit;
    if (largest.roles > limit) throw new RbacError(`this would give a user ${largest.roles} roles; at most ${limit} fit in a token (GATEHOUSE_RBAC_CLAIM_LIMIT)`, 'conflict');
    if (largest.groups > limit) throw new RbacError(`this would put a user in ${largest.groups} groups; at most ${limit} fit in a token (GATEHOUSE_RBAC_CLAIM_LIMIT)`, 'conflict');
  }

  const roleChanges = createRoleChanges({ db, store, audit, permissions: permissions.cache, checkPermissions });
  const groups = createGroupOperations({ db, store, audit, permissions: permissions.cache, userExists: deps.userExists, checkClaimLimit });

  return {
    permissions,
    async createRole(actor, input) {
      const r = newRoleSchema.parse(input);
      await checkPermissions(r.permissions);
      const row = await db.transaction(async (tx) => {
        if (!(await store.insertRole(tx, r.name, r.description))) throw new RbacError(`a role named ${r.name} already exists`, 'conflict');
        await store.replacePermissions(tx, r.name, r.permissions);
        return mustFindRole(r.name, tx);
      });
      recordAs(audit, actor, { type: 'role.created', subject: r.name, detail: { permissions: row.permissions, adminPermission: carriesAdmin(row.permissions) } });
      return toRole(row);
    },
    ...roleChanges,
    async removeRole(actor, name) {
      const role = await mustFindRole(name);
      if (role.built_in) throw new RbacError(`${name} is a built-in role and cannot be removed`, 'conflict');
      if (!(await store.removeRole(name))) throw new RbacError(`no such role: ${name}`, 'not_found');
      await permissions.cache.invalidateAll();
      recordAs(audit, actor, { type: 'role.removed', subject: name, detail: { adminPermission: carriesAdmin(role.permissions) } });
    },
    async findRole(name) {
      const row = await store.findRole(name);
      return row && toRole(row);
    },
    listRoles: async () => (await store.listRoles()).map(toRole),
    ...groups,
    async assign(actor, roleName, input) {
      const holder = holderSchema.parse(input);
      const role = await mustFindRole(rbacNameSchema.parse(roleName));
      if (holder.kind === 'user' && !(await deps.userExists(holder.id))) throw new RbacError(`no such user: ${holder.id}`, 'not_found');
      if (holder.kind === 'client' && !(await deps.clientExists(holder.id))) throw new RbacError(`no such client: ${holder.id}`, 'not_found');
      const added = await db.transaction(async (tx) => {
        if (holder.kind === 'group' && !(await store.groupExists(tx, holder.id))) throw new RbacError(`no such group: ${holder.id}`, 'not_found');
        const fresh = await store.assign(tx, role.name, holder);
        if (!fresh) return false;
        if (holder.kind === 'client') {
          const n = await store.clientRoleCount(tx, holder.id);
          if (n > deps.claimLimit) throw new RbacError(`this would give the client ${n} roles; at most ${deps.claimLimit} fit in a token (GATEHOUSE_RBAC_CLAIM_LIMIT)`, 'conflict');
        } else {
          await checkClaimLimit(tx, holder.kind === 'user' ? { accountId: holder.id } : { group: holder.id });
        }
        if (holder.kind === 'group') await permissions.cache.invalidateAll(tx);
        else await permissions.cache.invalidate(cacheKey(holder), tx);
        return true;
      });
      if (!added) return;
      recordAs(audit, actor, { type: 'role.assigned', subject: role.name, detail: { holder, adminPermission: carriesAdmin(role.permissions) } });
    },
    async unassign(actor, roleName, input) {
      const holder = holderSchema.parse(input);
      const role = await mustFindRole(rbacNameSchema.parse(roleName));
      if (!(await store.unassign(role.name, holder))) throw new RbacError(`${holder.kind} ${holder.id} does not hold the role ${role.name}`, 'not_found');
      if (holder.kind === 'group') await permissions.cache.invalidateAll();
      else await permissions.cache.invalidate(cacheKey(holder));
      recordAs(audit, actor, { type: 'role.unassigned', subject: role.name, detail: { holder, adminPermission: carriesAdmin(role.permissions) } });
    },
    rolesOf: (holder) => store.rolesOf(holderSchema.parse(holder)),
    effective: (subject) => permissions.of(subject),
  };
}
