/**
 * A subject's effective permissions: what a user holds directly and through
 * its groups, or what a client holds for client credentials. Read on every
 * token request for a resource server with RBAC on, so it is cached per
 * subject (DESIGN invariant 2) and invalidated by NOTIFY on every change.
 */
import { createNamedCache, type NamedCache } from '../db/cache.js';
import type { Db } from '../db/index.js';
import type { HeldRow, RbacStore } from './store.js';

/** A subject whose permissions are evaluated at issuance. */
export type Subject = { kind: 'user'; id: string } | { kind: 'client'; id: string };

export interface Effective {
  /** Every role held, directly or through a group, sorted. */
  roles: string[];
  /** The user's groups, sorted (none for a client). */
  groups: string[];
  /** Each permission with the roles (and groups) it comes through. */
  permissions: Array<{ audience: string; scope: string; via: Array<{ role: string; group?: string }> }>;
  /** The scopes held at one audience. */
  scopesAt(audience: string): ReadonlySet<string>;
  /** The roles that carry at least one permission at one audience. */
  rolesAt(audience: string): string[];
}

/** How long a node may serve a subject's permissions after a lost invalidation NOTIFY. */
export const permissionCacheTtlMs = 5_000;

const none: ReadonlySet<string> = new Set();

export const cacheKey = (subject: Subject) => `${subject.kind}:${subject.id}`;

export function effectiveOf(held: readonly HeldRow[], groups: readonly string[]): Effective {
  const byPermission = new Map<string, Effective['permissions'][number]>();
  const scopes = new Map<string, Set<string>>();
  const roles = new Map<string, Set<string>>();
  for (const row of held) {
    if (!roles.has(row.role)) roles.set(row.role, new Set());
    if (row.audience === null || row.scope === null) continue;
    roles.get(row.role)!.add(row.audience);
    const key = `${row.audience}\u0000${row.scope}`;
    let entry = byPermission.get(key);
    if (!entry) {
      entry = { audience: row.audience, scope: row.scope, via: [] };
      byPermission.set(key, entry);
      if (!scopes.has(row.audience)) scopes.set(row.audience, new Set());
      scopes.get(row.audience)!.add(row.scope);
    }
    entry.via.push(row.group_name ? { role: row.role, group: row.group_name } : { role: row.role });
  }
  const sortedRoles = [...roles.keys()].sort();
  return {
    roles: sortedRoles,
    groups: [...groups].sort(),
    permissions: [...byPermission.values()].sort((a, b) => a.audience.localeCompare(b.audience) || a.scope.localeCompare(b.scope)),
    scopesAt: (audience) => scopes.get(audience) ?? none,
    rolesAt: (audience) => sortedRoles.filter((r) => roles.get(r)!.has(audience)),
  };
}

export interface PermissionReader {
  cache: NamedCache<Effective>;
  /** The subject's permissions if cached: the token endpoint's common case, answered without a promise. */
  cached(subject: Subject): Effective | undefined;
  of(subject: Subject): Promise<Effective>;
}

export function createPermissionReader(db: Db, store: RbacStore): PermissionReader {
  const cache = createNamedCache<Effective>(db, 'rbac_permissions', { ttlMs: permissionCacheTtlMs });
  const load = async (subject: Subject): Promise<Effective> => {
    if (subject.kind === 'client') return effectiveOf(await store.heldByClient(subject.id), []);
    const { held, groups } = await store.heldByUser(subject.id);
    return effectiveOf(held, groups);
  };
  return {
    cache,
    cached: (subject) => cache.peek(cacheKey(subject)),
    async of(subject) {
      return (await cache.get(cacheKey(subject), () => load(subject)))!;
    },
  };
}
