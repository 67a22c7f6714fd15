/**
 * RFC 9728 protected-resource metadata for a registered resource server: the
 * document the API publishes at `/.well-known/oauth-protected-resource` (with
 * its resource path inserted, §3.1) and names in its 401 challenge
 * (`WWW-Authenticate: Bearer resource_metadata="…"`, §5.1), which is how an MCP
 * client finds Gatehouse. Gatehouse produces it (CLI, admin API); the API
 * serves it (examples/resource-server/metadata.ts).
 */
import type { ResourceServer } from './resources.js';

export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: string[];
  resource_name: string;
  dpop_signing_alg_values_supported: string[];
  dpop_bound_access_tokens_required: boolean;
}

/** Where RFC 9728 §3.1 puts the document of `resource`; undefined for a resource that is not an http(s) URL (a URN has no well-known location). */
export function protectedResourceMetadataUrl(resource: string): string | undefined {
  const url = new URL(resource);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}${url.search}`;
}

export function protectedResourceMetadata(resource: ResourceServer, authorisation: { issuer: string; dpopSigningAlgs: readonly string[] }): ProtectedResourceMetadata {
  return {
    resource: resource.audience,
    authorization_servers: [authorisation.issuer],
    scopes_supported: [...resource.scopes],
    // RFC 6750 §2.1 only: tokens in a form body or a query string end up in logs.
    bearer_methods_supported: ['header'],
    resource_name: resource.name,
    dpop_signing_alg_values_supported: [...authorisation.dpopSigningAlgs],
    dpop_bound_access_tokens_required: false,
  };
}
