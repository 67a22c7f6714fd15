import type { Grant } from 'oidc-provider';

export interface GrantRequest {
  oidcScopes: string[];
  claims: string[];
  resourceScopes: Record<string, string[]>;
}

/** Adds what was asked for to a grant: used by the consent form and by first-party auto-consent alike. */
export function widenGrant(grant: Grant, request: GrantRequest): void {
  if (request.oidcScopes.length > 0) grant.addOIDCScope(request.oidcScopes.join(' '));
  if (request.claims.length > 0) grant.addOIDCClaims(request.claims);
  for (const [indicator, scopes] of Object.entries(request.resourceScopes)) {
    if (scopes.length > 0) grant.addResourceScope(indicator, scopes.join(' '));
  }
}
