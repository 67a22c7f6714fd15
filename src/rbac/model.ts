/** What the RBAC service hands out: roles and groups as callers read them, and its one error type. */
import type { Permission } from './schemas.js';
import type { GroupRow, RoleRow } from './store.js';

export class RbacError extends Error {
  override name = 'RbacError';
  constructor(message: string, readonly kind: 'invalid' | 'not_found' | 'conflict' = 'invalid') {
    super(message);
  }
}

export interface Role {
  name: string;
  description: string;
  builtIn: boolean;
  permissions: Permission[];
  createdAt: Date;
  updatedAt: Date;
  /** Moves on with every change of the role or its permissions (migration 0023): the admin API's ETag. */
  version: number;
}

export interface Group {
  name: string;
  description: string;
  /** Account ids. */
  members: string[];
  roles: string[];
  createdAt: Date;
}

export const toRole = (row: RoleRow): Role => ({
  name: row.name,
  description: row.description,
  builtIn: row.built_in,
  permissions: row.permissions,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  version: Number(row.version),
});

export const toGroup = (row: GroupRow): Group => ({ name: row.name, description: row.description, members: row.members, roles: row.roles, createdAt: row.created_at });

