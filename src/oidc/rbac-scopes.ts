/**
 * RBAC at issuance (issue 15, docs/rbac.md): for a resource server with RBAC
 * on, the scopes the library may put in a token are narrowed to what the
 * subject holds. The library asks getResourceServerInfo (src/oidc/resources.ts)
 * at every point that decides a token's scopes, and intersects the request
 * with the `scope` answered there:
 * - /authorize, PAR and the interaction's resume (lib/shared/check_resource.js),
 *   so after sign-in the consent page lists only grantable scopes
 *   (lib/helpers/interaction_policy/prompts/consent.js rs_scopes_missing);
 * - the code exchange (lib/helpers/grant_authorization.js resolveAndApplyResource),
 *   with the code as ctx.oidc.entities.AuthorizationCode;
 * - every refresh (lib/actions/grants/refresh_token.js:183), so a removed role
 *   is gone from the next refreshed token;
 * - client credentials (lib/actions/grants/client_credentials.js:34), where the
 *   subject is the client itself;
 * - token exchange (src/oidc/token-exchange.ts), where the subject is the
 *   exchanged token's user or client (an API key's owner).
 * Pinned to oidc-provider 9.13.3; re-check these call sites on upgrade.
 */
import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';

import type { RbacService, Subject } from '../rbac/rbac.js';
import type { ResourceServer as ResourceServerRecord } from '../resources/resources.js';

interface IssuanceContext {
  route?: string;
  params?: { grant_type?: unknown; scope?: unknown };
  client?: { clientId: string };
  session?: { accountId?: string };
  entities?: Record<string, { accountId?: string } | undefined>;
}

/**
 * The subject of a token exchange (RFC 8693), which the library knows
 * nothing of: the grant handler (src/oidc/token-exchange.ts) names it before
 * asking for the target's scopes, so the new token carries only what that
 * user or client holds there.
 */
const exchangeSubjects = new WeakMap<object, Subject>();
export function setExchangeSubject(ctx: KoaContextWithOIDC, subject: Subject): void {
  exchangeSubjects.set(ctx, subject);
}

/** Who the token would be about: the signed-in user, the user of the code or refresh token, the exchanged token's subject, or the client itself. */
export function subjectOf(ctx: KoaContextWithOIDC | undefined): Subject | undefined {
  const oidc = ctx?.oidc as IssuanceContext | undefined;
  if (!oidc) return undefined;
  const exchanged = exchangeSubjects.get(ctx!);
  if (exchanged) return exchanged;
  if (oidc.params?.grant_type === 'client_credentials' && oidc.client) return { kind: 'client', id: oidc.client.clientId };
  const e = oidc.entities ?? {};
  const accountId = e['AuthorizationCode']?.accountId ?? e['RefreshToken']?.accountId ?? oidc.session?.accountId;
  return accountId ? { kind: 'user', id: accountId } : undefined;
}

/**
 * The library's answer narrowed to the held scopes. Before sign-in (the first
 * pass of /authorize) nobody is known yet and nothing is narrowed: no token
 * comes out of that pass, and the resume and the token endpoint narrow again.
 * At the token endpoint an unknown subject holds nothing (fail closed).
 */
export function narrowToHeld(ctx: KoaContextWithOIDC | undefined, rs: Pick<ResourceServerRecord, 'audience' | 'unheldScopes'>, info: ResourceServer, rbac: RbacService): ResourceServer | Promise<ResourceServer> {
  const subject = subjectOf(ctx);
  const atToken = (ctx?.oidc as IssuanceContext | undefined)?.route === 'token';
  if (!subject) return atToken ? { ...info, scope: '' } : info;
  const apply = (held: ReadonlySet<string>): ResourceServer => {
    const offered = (info.scope ?? '').split(' ').filter(Boolean);
    if (rs.unheldScopes === 'refuse') {
      const requested = new Set(String((ctx?.oidc as IssuanceContext | undefined)?.params?.scope ?? '').split(' '));
      const unheld = offered.filter((s) => requested.has(s) && !held.has(s));
      // RFC 6749 §5.2: a scope the subject may not have.
      if (unheld.length) throw new errors.InvalidScope('requested scope is not held by the subject', unheld.join(' '));
    }
    return { ...info, scope: offered.filter((s) => held.has(s)).join(' ') };
  };
  const cached = rbac.permissions.cached(subject);
  return cached ? apply(cached.scopesAt(rs.audience)) : rbac.effective(subject).then((e) => apply(e.scopesAt(rs.audience)));
}
