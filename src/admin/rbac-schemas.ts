/** Request and response shapes of /admin/v1's roles, groups and permissions (issue 15), as schemas.ts for the rest. */
import { z } from 'zod';

import { permissionSchema, rbacNameSchema } from '../rbac/schemas.js';
import { cursor, limit, timestamp } from './schemas.js';

const rbacName = rbacNameSchema;
export const roleParams = z.strictObject({ name: z.string().min(1).max(64) });
export const groupParams = z.strictObject({ name: z.string().min(1).max(64) });
export const groupMemberParams = z.strictObject({ name: z.string().min(1).max(64), id: z.string().min(1).max(200) });
export const groupRoleParams = z.strictObject({ name: z.string().min(1).max(64), role: z.string().min(1).max(64) });
export const userRoleParams = z.strictObject({ id: z.string().min(1).max(200), role: z.string().min(1).max(64) });
export const clientRoleParams = z.strictObject({ clientId: z.string().min(1).max(200), role: z.string().min(1).max(64) });
export const rbacListQuery = z.strictObject({ limit, cursor });

const permissionJson = z.strictObject({ audience: z.string(), scope: z.string() }).meta({ id: 'Permission' });

export const roleSchema = z
  .strictObject({
    name: z.string(),
    description: z.string(),
    built_in: z.boolean().describe('The admin plane\'s roles: they cannot be changed or removed.'),
    permissions: z.array(permissionJson),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Role' });

export const newRoleBody = z
  .strictObject({ name: rbacName, description: z.string().trim().max(500).optional(), permissions: z.array(permissionSchema).max(500).optional() })
  .meta({ id: 'NewRole' });

export const rolePatchBody = z
  .strictObject({ description: z.string().trim().max(500).optional(), permissions: z.array(permissionSchema).max(500).optional().describe('Replaces every permission of the role.') })
  .meta({ id: 'RolePatch' });

export const permissionsBody = z
  .strictObject({ permissions: z.array(permissionSchema).min(1).max(500).describe('Added to the role; the ones it already carries are left as they are.') })
  .meta({ id: 'PermissionGrant' });

export const permissionQuery = z.strictObject({
  audience: permissionSchema.shape.audience.describe('The resource server of the permission to remove.'),
  scope: permissionSchema.shape.scope.describe('Its scope.'),
});

export const groupSchema = z
  .strictObject({ name: z.string(), description: z.string(), members: z.array(z.string()).describe('User ids.'), roles: z.array(z.string()), created_at: timestamp })
  .meta({ id: 'Group' });

export const newGroupBody = z.strictObject({ name: rbacName, description: z.string().trim().max(500).optional() }).meta({ id: 'NewGroup' });

export const roleNamesSchema = z.strictObject({ items: z.array(z.string()) }).meta({ id: 'RoleNames' });

export const effectivePermissionsSchema = z
  .strictObject({
    roles: z.array(z.string()).describe('Every role held, directly or through a group.'),
    groups: z.array(z.string()),
    permissions: z.array(
      z.strictObject({ audience: z.string(), scope: z.string(), via: z.array(z.strictObject({ role: z.string(), group: z.string().optional() })) }),
    ),
  })
  .meta({ id: 'EffectivePermissions' });

export const permissionEntrySchema = z
  .strictObject({ audience: z.string(), scope: z.string(), resource_name: z.string(), rbac: z.boolean().describe('Whether tokens for this audience carry only held scopes.') })
  .meta({ id: 'PermissionEntry' });
