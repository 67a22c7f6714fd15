/** Groups and their members: part of the RBAC service (rbac.ts), split out by concern. */
import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { NamedCache } from '../db/cache.js';
import type { Db, Queryable } from '../db/index.js';
import { cacheKey, type Effective } from './effective.js';
import { newGroupSchema, rbacNameSchema, type NewGroup } from './schemas.js';
import type { RbacStore } from './store.js';
import { RbacError, toGroup, type Group } from './model.js';

export interface GroupOperationDeps {
  db: Db;
  store: RbacStore;
  audit: Audit;
  permissions: NamedCache<Effective>;
  userExists(id: string): Promise<boolean>;
  checkClaimLimit(tx: Queryable, users: { accountId: string }): Promise<void>;
}

export function createGroupOperations({ db, store, audit, permissions, userExists, checkClaimLimit }: GroupOperationDeps) {
  const mustExist = async (name: string) => {
    const row = await store.findGroup(rbacNameSchema.parse(name));
    if (!row) throw new RbacError(`no such group: ${name}`, 'not_found');
    return row;
  };
  return {
    async createGroup(actor: Actor, input: NewGroup): Promise<Group> {
      const g = newGroupSchema.parse(input);
      if (!(await store.insertGroup(g.name, g.description))) throw new RbacError(`a group named ${g.name} already exists`, 'conflict');
      recordAs(audit, actor, { type: 'group.created', subject: g.name });
      return toGroup((await store.findGroup(g.name))!);
    },
    async removeGroup(actor: Actor, name: string): Promise<void> {
      const group = await mustExist(name);
      if (!(await store.removeGroup(group.name))) throw new RbacError(`no such group: ${name}`, 'not_found');
      await permissions.invalidateAll();
      recordAs(audit, actor, { type: 'group.removed', subject: group.name, detail: { members: group.members.length, roles: group.roles } });
    },
    async findGroup(name: string): Promise<Group | undefined> {
      const parsed = rbacNameSchema.safeParse(name);
      const row = parsed.success ? await store.findGroup(parsed.data) : undefined;
      return row && toGroup(row);
    },
    listGroups: async (): Promise<Group[]> => (await store.listGroups()).map(toGroup),
    async addMember(actor: Actor, name: string, accountId: string): Promise<void> {
      const group = await mustExist(name);
      if (!(await userExists(accountId))) throw new RbacError(`no such user: ${accountId}`, 'not_found');
      const added = await db.transaction(async (tx) => {
        if (!(await store.addMember(tx, group.name, accountId))) return false;
        await checkClaimLimit(tx, { accountId });
        await permissions.invalidate(cacheKey({ kind: 'user', id: accountId }), tx);
        return true;
      });
      if (added) recordAs(audit, actor, { type: 'group.member_added', subject: group.name, detail: { user: accountId, roles: group.roles } });
    },
    async removeMember(actor: Actor, name: string, accountId: string): Promise<void> {
      const group = await mustExist(name);
      if (!(await store.removeMember(group.name, accountId))) throw new RbacError(`${accountId} is not a member of ${group.name}`, 'not_found');
      await permissions.invalidate(cacheKey({ kind: 'user', id: accountId }));
      recordAs(audit, actor, { type: 'group.member_removed', subject: group.name, detail: { user: accountId } });
    },
  };
}
