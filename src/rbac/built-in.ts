/**
 * The admin plane's built-in roles (issue 15 §4): the admin API's scopes are
 * permissions of the admin resource server, urn:gatehouse:admin, and these
 * roles grant them. Migration 0011 creates the same rows; the service refuses
 * to change or remove them.
 */
import { adminAudience, adminScopes, type AdminScope } from '../resources/admin-audience.js';

export const administratorRole = 'administrator';

const reads = adminScopes.filter((s) => s.endsWith('.read'));

export const builtInRoles: Record<string, readonly AdminScope[]> = {
  [administratorRole]: adminScopes,
  'user-manager': ['admin:users.read', 'admin:users.write'],
  auditor: reads,
  'key-manager': ['admin:keys.read', 'admin:keys.write'],
};

export const isAdminPermission = (audience: string) => audience === adminAudience;
