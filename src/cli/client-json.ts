/** A client as the CLI prints it with --json (RFC 7591 names where there is one). */
import type { ClientSummary } from '../clients/clients.js';
import { isoDate } from './output.js';

export function clientJson(client: ClientSummary) {
  return {
    client_id: client.clientId,
    name: client.name,
    type: client.type,
    grant_types: client.grantTypes,
    redirect_uris: client.redirectUris,
    token_endpoint_auth_method: client.authMethod,
    scope: client.scopes.join(' ') || null,
    first_party: client.firstParty,
    dpop_bound_access_tokens: client.dpopBoundTokens,
    security_profile: client.securityProfile,
    disabled: client.disabled,
    source: client.source,
    registered_by: client.registeredBy,
    registration_policy: client.registrationPolicy,
    introspects: client.introspects,
    default_resource: client.defaultResource,
    secret_expires_at: isoDate(client.secretExpiresAt),
    created_at: isoDate(client.createdAt),
    updated_at: isoDate(client.updatedAt),
  };
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];
