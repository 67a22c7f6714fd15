/**
 * Changing a role's permissions: part of the RBAC service (rbac.ts), split out
 * by concern. Two shapes, for two kinds of caller (issue 15):
 * - grant / revoke add or remove single rows (INSERT … ON CONFLICT DO NOTHING,
 *   DELETE), so two concurrent grants to one role both survive: neither reads
 *   the set and writes it back;
 * - update replaces the description or the whole set, optionally under the
 *   role's version (If-Match): the role's row is locked and its version
 *   compared inside the transaction, so of two writers holding one version
 *   exactly one wins.
 * Any change of permissions touches the role (migration 0023's trigger), which
 * moves its version on, and drops every cached effective permission set on
 * every node (NOTIFY at commit) since any user, group or client may hold it.
 */
import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { NamedCache } from '../db/cache.js';
import type { Db, Queryable } from '../db/index.js';
import { isAdminPermission } from './built-in.js';
import type { Effective } from './effective.js';
import { RbacError, toRole, type Role } from './model.js';
import { permissionSchema, roleChangeSchema, type Permission, type RoleChange } from './schemas.js';
import type { RbacStore, RoleRow } from './store.js';

export interface RoleChangeDeps {
  db: Db;
  store: RbacStore;
  audit: Audit;
  permissions: NamedCache<Effective>;
  /** Throws unless every permission names a registered scope. */
  checkPermissions(list: readonly Permission[]): Promise<void>;
}

const carriesAdmin = (permissions: readonly Permission[]) => permissions.some((p) => isAdminPermission(p.audience));
const same = (p: Permission, q: Permission) => p.audience === q.audience && p.scope === q.scope;
const permissionListSchema = permissionSchema.array().min(1).max(500);

export function createRoleChanges({ db, store, audit, permissions, checkPermissions }: RoleChangeDeps) {
  /** Locks a changeable role until the transaction ends; 'stale' when its version is not `expectedVersion` (null: any). */
  async function lockChangeable(tx: Queryable, name: string, expectedVersion: number | null): Promise<RoleRow | 'stale'> {
    const found = await store.findRoleForUpdate(tx, name);
    if (!found) throw new RbacError(`no such role: ${name}`, 'not_found');
    if (found.built_in) throw new RbacError(`${name} is a built-in role and cannot be changed`, 'conflict');
    if (expectedVersion !== null && Number(found.version) !== expectedVersion) return 'stale';
    return (await store.findRole(name, tx))!;
  }

  function recordPermissionChange(actor: Actor, name: string, added: readonly Permission[], removed: readonly Permission[]): void {
    recordAs(audit, actor, { type: 'role.updated', subject: name, detail: { added, removed, adminPermission: carriesAdmin(added) || carriesAdmin(removed) } });
  }

  async function update(actor: Actor, name: string, input: RoleChange, expectedVersion: number | null): Promise<Role | 'stale'> {
    const change = roleChangeSchema.parse(input);
    if (change.permissions) await checkPermissions(change.permissions);
    const outcome = await db.transaction(async (tx) => {
      const before = await lockChangeable(tx, name, expectedVersion);
      if (before === 'stale') return before;
      if (change.description !== undefined) await store.setDescription(tx, name, change.description);
      if (change.permissions) {
        await store.replacePermissions(tx, name, change.permissions);
        // Every holder of the role, through any group: cheaper to drop all than to find them.
        await permissions.invalidateAll(tx);
      }
      if (change.description === undefined && !change.permissions) return { before, after: before };
      return { before, after: (await store.findRole(name, tx))! };
    });
    if (outcome === 'stale') return outcome;
    const { before, after } = outcome;
    if (before !== after) {
      recordPermissionChange(actor, name, after.permissions.filter((p) => !before.permissions.some((q) => same(p, q))), before.permissions.filter((p) => !after.permissions.some((q) => same(p, q))));
    }
    return toRole(after);
  }

  return {
    async updateRole(actor: Actor, name: string, change: RoleChange): Promise<Role> {
      return (await update(actor, name, change, null)) as Role;
    },
    updateRoleIfVersion: (actor: Actor, name: string, change: RoleChange, expectedVersion: number) => update(actor, name, change, expectedVersion),

    /** Adds permissions to a role; those it already carries stay as they are (audited: only what was added). */
    async grantPermissions(actor: Actor, name: string, input: readonly Permission[]): Promise<Role> {
      const listed = permissionListSchema.parse(input);
      await checkPermissions(listed);
      const { added, after } = await db.transaction(async (tx) => {
        await lockChangeable(tx, name, null);
        const inserted = await store.addPermissions(tx, name, listed);
        if (inserted.length) await permissions.invalidateAll(tx);
        return { added: inserted, after: (await store.findRole(name, tx))! };
      });
      if (added.length) recordPermissionChange(actor, name, added, []);
      return toRole(after);
    },

    /** Removes permissions from a role; naming one it does not carry is an error and changes nothing. */
    async revokePermissions(actor: Actor, name: string, input: readonly Permission[]): Promise<Role> {
      const listed = permissionListSchema.parse(input);
      const { removed, after } = await db.transaction(async (tx) => {
        await lockChangeable(tx, name, null);
        const deleted = await store.removePermissions(tx, name, listed);
        const missing = listed.filter((p) => !deleted.some((q) => same(p, q)));
        // Throwing rolls the deletions back: all named or nothing.
        if (missing.length) throw new RbacError(`${name} does not carry ${missing.map((p) => `${p.audience}#${p.scope}`).join(', ')}`, 'not_found');
        await permissions.invalidateAll(tx);
        return { removed: deleted, after: (await store.findRole(name, tx))! };
      });
      recordPermissionChange(actor, name, [], removed);
      return toRole(after);
    },
  };
}
