/**
 * The console's own client (issue 16): built in, seeded at every start-up
 * with a fixed id (src/server.ts), first party, public with PKCE. Its
 * redirect URI is the console's callback on this issuer, so a code issued
 * to it only ever reaches the console's backend, which holds the PKCE
 * verifier (sealed in a cookie) and redeems the code itself.
 */
import type { NewClient } from '../clients/schemas.js';
import { adminScopes } from '../resources/admin-audience.js';

export const consoleClientId = 'gatehouse-console';
export const consoleScope = ['openid', ...adminScopes].join(' ');

export const consoleUrl = (issuer: string, path = '') => `${issuer.replace(/\/$/, '')}/console${path}`;

export function consoleClient(issuer: string): NewClient {
  return {
    type: 'public',
    name: 'Gatehouse console',
    redirectUris: [consoleUrl(issuer, '/callback')],
    postLogoutRedirectUris: [consoleUrl(issuer, '/signed-out')],
    firstParty: true,
    scope: consoleScope,
  };
}

/**
 * A web application whatever the issuer's scheme: its one redirect URI is
 * this issuer's own page. A public client with an http:// redirect would
 * otherwise be `native`, and oidc-provider asks every native client's user
 * to consent (lib/helpers/interaction_policy/prompts/consent.js
 * `native_client_prompt`), which a first-party console need not.
 */
export const consoleClientMetadata = { application_type: 'web' } as const;
