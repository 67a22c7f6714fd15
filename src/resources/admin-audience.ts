/**
 * The reserved resource server of the admin API (issue 14): Gatehouse's own
 * tokens, for audience `urn:gatehouse:admin`, authorise /admin/v1. It is built
 * in, never a row: an operator cannot register, change or remove it
 * (resources.add refuses the audience).
 */
export const adminAudience = 'urn:gatehouse:admin';

/** Fine-grained scopes, one read and one write per resource family. */
export const adminScopes = [
  'admin:users.read',
  'admin:users.write',
  'admin:clients.read',
  'admin:clients.write',
  'admin:resources.read',
  'admin:resources.write',
  'admin:registration.read',
  'admin:registration.write',
  'admin:keys.read',
  'admin:keys.write',
  'admin:audit.read',
  // Roles, groups and assignments (issue 15): writing them can grant any admin permission.
  'admin:roles.read',
  'admin:roles.write',
  'admin:stats.read',
] as const;

export type AdminScope = (typeof adminScopes)[number];

/**
 * Only a client the operator gave at least one admin scope (its `scope`
 * metadata, which the library also uses to narrow what it may request:
 * lib/helpers/grant_authorization.js validateClientScope) may ask for an
 * admin token. Without this, any operator-made client, whose resource list is
 * open, could ask for the admin audience.
 */
export function mayRequestAdminTokens(client: { [key: string]: unknown }): boolean {
  // The operator's scope list: OpenID scopes in `scope`, the rest in `allowed_scopes` (src/clients/schemas.ts).
  const scope = ['scope', 'allowed_scopes'].flatMap((key) => (typeof client[key] === 'string' ? (client[key] as string).split(' ') : []));
  return scope.some((s) => (adminScopes as readonly string[]).includes(s)) && client['resources'] === undefined;
}
