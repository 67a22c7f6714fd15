/** Input shapes for roles, groups and assignments, parsed at the edge (CLI, admin API) and again by the service. */
import { z } from 'zod';

/** Role and group names: short, lower-case, URL- and claim-safe (they appear in tokens). */
export const rbacNameSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9._:-]{0,63}$/, 'a name is 1 to 64 lower-case letters, digits, dot, dash, underscore or colon, starting with a letter or digit');

const descriptionSchema = z.string().trim().max(500).refine((v) => !v.includes('\u0000'), 'no NUL characters');

/** One permission: a scope of a resource server. */
export const permissionSchema = z.strictObject({
  audience: z.string().min(1).max(2000),
  scope: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/, 'scope tokens are printable ASCII without space, quote or backslash'),
});

export type Permission = z.infer<typeof permissionSchema>;

export const newRoleSchema = z.strictObject({
  name: rbacNameSchema,
  description: descriptionSchema.default(''),
  permissions: z.array(permissionSchema).max(500).default([]),
});

export type NewRole = z.input<typeof newRoleSchema>;

export const roleChangeSchema = z.strictObject({
  description: descriptionSchema.optional(),
  /** Replaces the role's permissions when given. */
  permissions: z.array(permissionSchema).max(500).optional(),
});

export type RoleChange = z.input<typeof roleChangeSchema>;

export const newGroupSchema = z.strictObject({
  name: rbacNameSchema,
  description: descriptionSchema.default(''),
});

export type NewGroup = z.input<typeof newGroupSchema>;

/** Who holds a role: a user (account id), a group (name) or a client (client id, for client credentials). */
export const holderSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('user'), id: z.string().min(1).max(200) }),
  z.strictObject({ kind: z.literal('group'), id: rbacNameSchema }),
  z.strictObject({ kind: z.literal('client'), id: z.string().min(1).max(200) }),
]);

export type Holder = z.infer<typeof holderSchema>;

export const holderKinds = ['user', 'group', 'client'] as const;
