/**
 * A registration's `scope` (RFC 7591 §2: the scopes the client will ask for)
 * names API scopes as well as OpenID ones: an MCP client registers with its
 * server's scopes, `mcp:tools offline_access`, as the official SDK does from
 * the protected-resource metadata's `scopes_supported`. oidc-provider accepts
 * in a client's `scope` only the provider's own scopes (its `scopes`
 * configuration: lib/helpers/client_schema.js, `scopes()`, at v9.13.3) and
 * revalidates every stored client through that schema when it loads one; its
 * resource servers' scopes are the resource servers' business
 * (`getResourceServerInfo`). So a registration's scope is kept as an
 * operator's is (src/clients/metadata.ts, `scopeMetadata`): the provider's
 * scopes in `scope`, the whole list in `allowed_scopes`, which narrows what
 * each resource server grants the client (src/oidc/resources.ts). The client
 * sees one `scope` in every registration response.
 *
 * Which API scopes a registration may name is the registration policy's
 * call (src/registration/policy.ts): only those of the resource servers the
 * client is registered for, which the policy allows.
 */
import { oidcScopes } from '../clients/schemas.js';
import { adminScopes } from '../resources/admin-audience.js';

/** The scopes oidc-provider itself knows (src/oidc/configuration.ts `scopes`): what its `scope` metadata may hold. */
const providerScopes: ReadonlySet<string> = new Set([...oidcScopes, ...adminScopes]);

type Metadata = Record<string, unknown>;

/**
 * Rewrites a registration request (RFC 7591) or update (RFC 7592) before the
 * library validates it: a `scope` with API scopes becomes the provider's part
 * in `scope` (none: left out, so the policy's default applies) and the whole
 * list in `allowed_scopes`. `allowed_scopes` is the operator's field: one a
 * client sends is discarded, whatever its scope says.
 */
export function splitRegisteredScope(metadata: Metadata): void {
  delete metadata.allowed_scopes;
  if (typeof metadata.scope !== 'string') return;
  const scopes = [...new Set(metadata.scope.split(' '))];
  if (scopes.every((s) => providerScopes.has(s))) return;
  const provider = scopes.filter((s) => providerScopes.has(s));
  metadata.allowed_scopes = scopes.join(' ');
  if (provider.length) metadata.scope = provider.join(' ');
  else delete metadata.scope;
}

/**
 * The client's registered metadata as registration responses show it: one
 * `scope` with everything the client may ask for (its API scopes first, then
 * any OpenID scope the policy filled in), and no `allowed_scopes`.
 */
export function joinRegisteredScope(metadata: Metadata): void {
  if (typeof metadata.allowed_scopes !== 'string') return;
  const own = typeof metadata.scope === 'string' ? metadata.scope.split(' ') : [];
  metadata.scope = [...new Set([...metadata.allowed_scopes.split(' '), ...own])].filter(Boolean).join(' ');
  delete metadata.allowed_scopes;
}

/** The scopes a stored registration names beyond the provider's own: what its resource servers must offer. */
export function apiScopesOf(metadata: Metadata): string[] {
  return typeof metadata.allowed_scopes === 'string' ? metadata.allowed_scopes.split(' ').filter((s) => s && !providerScopes.has(s)) : [];
}
