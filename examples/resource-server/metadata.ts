/**
 * RFC 9728 protected-resource metadata for the example API: the document
 * (what `gatehouse resources metadata <audience>` or the admin API's
 * /resource-servers/{audience}/metadata prints, or built here from the same
 * facts), served at `/.well-known/oauth-protected-resource` with the
 * resource's path inserted (§3.1), and the `resource_metadata` parameter of
 * the 401 challenge that points clients at it (§5.1).
 */
export interface ResourceMetadataOptions {
  /** The resource indicator (RFC 8707) tokens are issued for: the API's audience. */
  resource: string;
  issuer: string;
  scopes?: string[];
  name?: string;
}

/** The path RFC 9728 §3.1 gives the document of `resource` on the API's own origin. */
export function metadataPath(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `/.well-known/oauth-protected-resource${path}`;
}

export function resourceMetadata(options: ResourceMetadataOptions): Record<string, unknown> {
  return {
    resource: options.resource,
    authorization_servers: [options.issuer],
    scopes_supported: options.scopes ?? [],
    bearer_methods_supported: ['header'],
    ...(options.name ? { resource_name: options.name } : {}),
    dpop_signing_alg_values_supported: ['ES256', 'PS256', 'EdDSA'],
  };
}

/** The `resource_metadata` auth-param (RFC 9728 §5.1) for the API reached at `publicOrigin`. */
export const resourceMetadataParam = (publicOrigin: string, resource: string) => `resource_metadata="${publicOrigin}${metadataPath(resource)}"`;
