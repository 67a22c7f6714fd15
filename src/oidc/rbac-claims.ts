/**
 * `roles` and `groups` claims in JWT access tokens (RFC 9068 §7.2.1.1) for a
 * resource server configured with them (`--token-claim roles|groups`):
 * `roles` are the subject's roles that carry a permission at that server (the
 * others are no business of that API), `groups` the user's groups. Their size
 * is bounded when they are assigned (GATEHOUSE_RBAC_CLAIM_LIMIT, src/rbac/rbac.ts).
 */
import type { RbacService, Subject } from '../rbac/rbac.js';
import type { ResourceService } from '../resources/resources.js';

interface TokenFacts {
  kind?: string;
  accountId?: string;
  clientId?: string;
  resourceServer?: { audience?: string };
}

export async function rbacTokenClaims(token: unknown, resources: ResourceService, rbac: RbacService): Promise<Record<string, unknown> | undefined> {
  const t = token as TokenFacts;
  const audience = t.resourceServer?.audience;
  if (!audience || (t.kind !== 'AccessToken' && t.kind !== 'ClientCredentials')) return undefined;
  const rs = resources.cached(audience) ?? (await resources.find(audience));
  if (!rs || rs.tokenClaims.length === 0) return undefined;
  const subject: Subject | undefined = t.accountId ? { kind: 'user', id: t.accountId } : t.clientId ? { kind: 'client', id: t.clientId } : undefined;
  if (!subject) return undefined;
  const held = rbac.permissions.cached(subject) ?? (await rbac.effective(subject));
  return {
    ...(rs.tokenClaims.includes('roles') ? { roles: held.rolesAt(audience) } : {}),
    ...(rs.tokenClaims.includes('groups') && subject.kind === 'user' ? { groups: held.groups } : {}),
  };
}
