/**
 * The roles, role_permissions, groups, group_members and role_assignments
 * tables: plain parameterised SQL. Writes that must be checked together (a
 * role and its permissions; an assignment and the claim limit) take the
 * caller's transaction.
 */
import type { Db, Queryable } from '../db/index.js';
import type { Holder, Permission } from './schemas.js';

export interface RoleRow {
  name: string;
  description: string;
  built_in: boolean;
  permissions: Permission[];
  created_at: Date;
  updated_at: Date;
  /** Bumped by trigger on every UPDATE of the role, and so by every change of its permissions (migration 0023). */
  version: number | string;
}

export interface GroupRow {
  name: string;
  description: string;
  members: string[];
  roles: string[];
  created_at: Date;
}

/** One way a subject holds a permission: a role, held directly or through a group; a role without permissions has audience null. */
export interface HeldRow {
  role: string;
  group_name: string | null;
  audience: string | null;
  scope: string | null;
}

const holderColumn = { user: 'account_id', group: 'group_name', client: 'client_id' } as const;

const roleSelect = `SELECT r.name, r.description, r.built_in, r.created_at, r.updated_at, r.version,
  COALESCE((SELECT jsonb_agg(jsonb_build_object('audience', p.audience, 'scope', p.scope) ORDER BY p.audience, p.scope)
            FROM role_permissions p WHERE p.role = r.name), '[]'::jsonb) AS permissions
  FROM roles r`;

const groupSelect = `SELECT g.name, g.description, g.created_at,
  COALESCE((SELECT jsonb_agg(m.account_id ORDER BY m.account_id) FROM group_members m WHERE m.group_name = g.name), '[]'::jsonb) AS members,
  COALESCE((SELECT jsonb_agg(a.role ORDER BY a.role) FROM role_assignments a WHERE a.group_name = g.name), '[]'::jsonb) AS roles
  FROM groups g`;

export function createRbacStore(db: Db) {
  return {
    async insertRole(tx: Queryable, name: string, description: string): Promise<boolean> {
      const { rowCount } = await tx.query('INSERT INTO roles (name, description) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, description]);
      return rowCount > 0;
    },
    /** Locks the role until the transaction ends, so two changes of one role apply one after the other. */
    async findRoleForUpdate(tx: Queryable, name: string): Promise<Pick<RoleRow, 'name' | 'built_in' | 'version'> | undefined> {
      const { rows } = await tx.query<Pick<RoleRow, 'name' | 'built_in' | 'version'>>('SELECT name, built_in, version FROM roles WHERE name = $1 FOR UPDATE', [name]);
      return rows[0];
    },
    async replacePermissions(tx: Queryable, role: string, permissions: readonly Permission[]): Promise<void> {
      await tx.query('DELETE FROM role_permissions WHERE role = $1', [role]);
      await tx.query(
        `INSERT INTO role_permissions (role, audience, scope)
         SELECT $1, p->>'audience', p->>'scope' FROM jsonb_array_elements($2::jsonb) AS p ON CONFLICT DO NOTHING`,
        [role, JSON.stringify(permissions)],
      );
    },
    /** Adds rows one by one (a concurrent grant's rows survive); returns the ones that were not there yet. */
    async addPermissions(tx: Queryable, role: string, permissions: readonly Permission[]): Promise<Permission[]> {
      const { rows } = await tx.query<Permission>(
        `INSERT INTO role_permissions (role, audience, scope)
         SELECT $1, p->>'audience', p->>'scope' FROM jsonb_array_elements($2::jsonb) AS p ON CONFLICT DO NOTHING
         RETURNING audience, scope`,
        [role, JSON.stringify(permissions)],
      );
      return rows;
    },
    /** Deletes exactly the rows named; returns the ones that were there. */
    async removePermissions(tx: Queryable, role: string, permissions: readonly Permission[]): Promise<Permission[]> {
      const { rows } = await tx.query<Permission>(
        `DELETE FROM role_permissions
          WHERE role = $1 AND (audience, scope) IN (SELECT p->>'audience', p->>'scope' FROM jsonb_array_elements($2::jsonb) AS p)
         RETURNING audience, scope`,
        [role, JSON.stringify(permissions)],
      );
      return rows;
    },
    async setDescription(tx: Queryable, role: string, description: string): Promise<void> {
      await tx.query('UPDATE roles SET description = $2, updated_at = now() WHERE name = $1', [role, description]);
    },
    async findRole(name: string, executor: Queryable = db): Promise<RoleRow | undefined> {
      const { rows } = await executor.query<RoleRow>(`${roleSelect} WHERE r.name = $1`, [name]);
      return rows[0];
    },
    async listRoles(): Promise<RoleRow[]> {
      const { rows } = await db.query<RoleRow>(`${roleSelect} ORDER BY r.name`);
      return rows;
    },
    /** Built-in roles are never deleted. */
    async removeRole(name: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM roles WHERE name = $1 AND NOT built_in', [name]);
      return rowCount > 0;
    },

    async insertGroup(name: string, description: string): Promise<boolean> {
      const { rowCount } = await db.query('INSERT INTO groups (name, description) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, description]);
      return rowCount > 0;
    },
    async findGroup(name: string): Promise<GroupRow | undefined> {
      const { rows } = await db.query<GroupRow>(`${groupSelect} WHERE g.name = $1`, [name]);
      return rows[0];
    },
    async listGroups(): Promise<GroupRow[]> {
      const { rows } = await db.query<GroupRow>(`${groupSelect} ORDER BY g.name`);
      return rows;
    },
    async removeGroup(name: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM groups WHERE name = $1', [name]);
      return rowCount > 0;
    },
    /** False when the user is already a member. */
    async addMember(tx: Queryable, group: string, accountId: string): Promise<boolean> {
      const { rowCount } = await tx.query('INSERT INTO group_members (group_name, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [group, accountId]);
      return rowCount > 0;
    },
    async removeMember(group: string, accountId: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM group_members WHERE group_name = $1 AND account_id = $2', [group, accountId]);
      return rowCount > 0;
    },
    async groupExists(tx: Queryable, name: string): Promise<boolean> {
      const { rows } = await tx.query('SELECT 1 FROM groups WHERE name = $1', [name]);
      return rows.length > 0;
    },

    /** False when the holder already has the role. */
    async assign(tx: Queryable, role: string, holder: Holder): Promise<boolean> {
      const { rowCount } = await tx.query(
        `INSERT INTO role_assignments (role, ${holderColumn[holder.kind]}) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        [role, holder.id],
      );
      return rowCount > 0;
    },
    async unassign(role: string, holder: Holder): Promise<boolean> {
      const { rowCount } = await db.query(`DELETE FROM role_assignments WHERE role = $1 AND ${holderColumn[holder.kind]} = $2`, [role, holder.id]);
      return rowCount > 0;
    },
    async rolesOf(holder: Holder): Promise<string[]> {
      const { rows } = await db.query<{ role: string }>(`SELECT role FROM role_assignments WHERE ${holderColumn[holder.kind]} = $1 ORDER BY role`, [holder.id]);
      return rows.map((r) => r.role);
    },

    /** Every (role, permission) a user holds, directly and through groups, and the user's groups. */
    async heldByUser(accountId: string): Promise<{ held: HeldRow[]; groups: string[] }> {
      const { rows: held } = await db.query<HeldRow>(
        `SELECT a.role, NULL::text AS group_name, p.audience, p.scope
           FROM role_assignments a LEFT JOIN role_permissions p ON p.role = a.role
          WHERE a.account_id = $1
         UNION ALL
         SELECT a.role, m.group_name, p.audience, p.scope
           FROM group_members m JOIN role_assignments a ON a.group_name = m.group_name
           LEFT JOIN role_permissions p ON p.role = a.role
          WHERE m.account_id = $1`,
        [accountId],
      );
      const { rows } = await db.query<{ group_name: string }>('SELECT group_name FROM group_members WHERE account_id = $1 ORDER BY group_name', [accountId]);
      return { held, groups: rows.map((r) => r.group_name) };
    },
    async heldByClient(clientId: string): Promise<HeldRow[]> {
      const { rows } = await db.query<HeldRow>(
        `SELECT a.role, NULL::text AS group_name, p.audience, p.scope
           FROM role_assignments a LEFT JOIN role_permissions p ON p.role = a.role
          WHERE a.client_id = $1`,
        [clientId],
      );
      return rows;
    },

    /**
     * The most distinct roles and the most groups any of the given users (or a
     * group's members) holds, read inside the writer's transaction so the
     * claim limit is checked against what is about to commit.
     */
    async largestHolding(tx: Queryable, users: { accountId: string } | { group: string }): Promise<{ roles: number; groups: number }> {
      const affected = 'accountId' in users
        ? { sql: 'SELECT $1::text AS account_id', param: users.accountId }
        : { sql: 'SELECT account_id FROM group_members WHERE group_name = $1', param: users.group };
      const { rows } = await tx.query<{ roles: number; groups: number }>(
        `WITH affected AS (${affected.sql}),
         held AS (
           SELECT f.account_id, a.role FROM affected f JOIN role_assignments a ON a.account_id = f.account_id
           UNION
           SELECT f.account_id, a.role FROM affected f JOIN group_members m ON m.account_id = f.account_id JOIN role_assignments a ON a.group_name = m.group_name
         )
         SELECT COALESCE((SELECT max(n) FROM (SELECT count(*)::integer AS n FROM held GROUP BY account_id) r), 0)::integer AS roles,
                COALESCE((SELECT max(n) FROM (SELECT count(*)::integer AS n FROM affected f JOIN group_members m ON m.account_id = f.account_id GROUP BY f.account_id) g), 0)::integer AS groups`,
        [affected.param],
      );
      return rows[0] ?? { roles: 0, groups: 0 };
    },
    async clientRoleCount(tx: Queryable, clientId: string): Promise<number> {
      const { rows } = await tx.query<{ n: number }>('SELECT count(*)::integer AS n FROM role_assignments WHERE client_id = $1', [clientId]);
      return rows[0]?.n ?? 0;
    },
  };
}

export type RbacStore = ReturnType<typeof createRbacStore>;
