/**
 * OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
 * the library's `clientIdMetadataDocument` feature, draft-02 in oidc-provider 9.13):
 * a client whose `client_id` is the https URL of its own metadata. Nobody
 * registered it, so Gatehouse trusts nothing but the host the document lives on:
 *   - only hosts on the operator's allow-list are fetched (`allowFetch`), and
 *     only through the address guard (src/oidc/outbound-fetch.ts);
 *   - what such a client may be is fixed here (`allowClient`): public, code
 *     with PKCE (PKCE is required for every client), redirect URIs on the
 *     document's own host or loopback, the OpenID scopes and resource servers
 *     the operator listed, nothing an operator alone may set;
 *   - the library keeps fetched documents in a bounded per-process LRU (100
 *     entries, lib/helpers/client_id_metadata_document.js) for the time the
 *     response's Cache-Control max-age or Expires gives, clamped to the
 *     configured bounds: the short, named cache DESIGN invariant 2 asks for.
 */
import { hostAllowed } from '../config/outbound-formats.js';
import type { Config } from '../config/index.js';
import { redirectUriProblem } from '../registration/redirect-uris.js';
import { createHostBudget } from './document-host-budget.js';
import { createOutboundFetch, type OutboundFetch } from './outbound-fetch.js';

/** The library's name for the document in `fetchResponseBodyLimits` (lib/helpers/client_id_metadata_document.js:152). */
export const documentPurpose = 'client_id metadata document';

/** Only what the library's Client exposes that the rules below read. */
interface DocumentClient {
  clientId: string;
  clientAuthMethod?: string;
  grantTypes?: string[];
  responseTypes?: string[];
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  scope?: string;
  jwksUri?: string;
  jwks?: unknown;
  sectorIdentifierUri?: string;
  dpopBoundAccessTokens?: boolean;
  [key: string]: unknown;
}

type Settings = Config['clientMetadataDocuments'];

/** A client that came from a metadata document (the library marks it, lib/helpers/client_id_metadata_document.js:198). */
export function isMetadataDocumentClient(client: unknown): boolean {
  return (client as { clientIdMetadataDocument?: unknown } | undefined)?.clientIdMetadataDocument === true;
}

/** The host a metadata-document client is known by, for the consent page; undefined for any other client. */
export function documentHost(client: unknown): string | undefined {
  return isMetadataDocumentClient(client) ? new URL((client as { clientId: string }).clientId).host : undefined;
}

export function mayFetchDocument(settings: Settings, clientId: string): boolean {
  const url = URL.parse(clientId);
  return url !== null && url.protocol === 'https:' && hostAllowed(settings.hosts ?? [], url.hostname.toLowerCase());
}

const allowedGrants = new Set(['authorization_code', 'refresh_token']);

/** Why the client a document describes is refused, or undefined. One reason, for the log. */
export function documentClientProblem(settings: Settings, client: DocumentClient, options: { requireDpop: boolean }): string | undefined {
  const host = new URL(client.clientId).hostname.toLowerCase();
  if (client.clientAuthMethod !== 'none') return `token_endpoint_auth_method ${String(client.clientAuthMethod)}: metadata-document clients are public clients (none)`;
  const grant = (client.grantTypes ?? []).find((g) => !allowedGrants.has(g));
  if (grant) return `grant_types: ${grant} is not allowed (authorization_code and refresh_token only)`;
  if ((client.responseTypes ?? []).some((r) => r !== 'code')) return 'response_types: only code';
  if (client.jwksUri !== undefined || client.sectorIdentifierUri !== undefined) return 'jwks_uri and sector_identifier_uri are not fetched for metadata-document clients';
  for (const key of ['first_party', 'allowed_scopes', 'software_statement']) {
    if (client[key] !== undefined && client[key] !== false) return `${key} is set by operators only`;
  }
  // Redirects on the document's own host (or loopback, or its reverse-domain scheme): the code goes where the consent page said.
  for (const uri of [...(client.redirectUris ?? []), ...(client.postLogoutRedirectUris ?? [])]) {
    const problem = redirectUriProblem({ redirectHosts: [host], nativeRedirects: true }, uri);
    if (problem) return `redirect URI ${uri} ${problem.replace('the registration policy', 'the metadata-document policy')}`;
  }
  const scope = typeof client.scope === 'string' ? client.scope.split(' ').filter(Boolean) : [];
  const extra = scope.find((s) => !(settings.scopes as readonly string[]).includes(s));
  if (extra) return `scope: ${extra} is not allowed (allowed: ${settings.scopes.join(' ')})`;
  const resources = Array.isArray(client['resources']) ? (client['resources'] as string[]) : [];
  const resource = resources.find((r) => !settings.resources.includes(r));
  if (resource) return `resources: ${resource} is not allowed`;
  if (options.requireDpop && client.dpopBoundAccessTokens !== true) return 'dpop_bound_access_tokens must be true (public clients must use DPoP here)';
  return undefined;
}

/** The resource indicators a metadata-document client may ask tokens for: the operator's list, narrowed by its own. */
export function documentClientResources(settings: Settings, client: { [key: string]: unknown }): string[] {
  const own = client['resources'];
  return Array.isArray(own) ? settings.resources.filter((r) => own.includes(r)) : settings.resources;
}

/** How long a failed fetch is answered from memory instead of being tried again. */
const failureMemoryMs = 10_000;

export interface MetadataDocumentWiring {
  feature: Record<string, unknown>;
  /** Routes fetches of allow-listed document URLs through the guard; everything else to `fallback`. */
  fetch(fallback: OutboundFetch): OutboundFetch;
  bodyLimits: Record<string, number>;
}

export function metadataDocumentWiring(config: Config, log: (event: string, detail: Record<string, unknown>) => void): MetadataDocumentWiring | undefined {
  const settings = config.clientMetadataDocuments;
  if (!settings.hosts?.length) return undefined;
  const guarded = createOutboundFetch({
    timeoutMs: settings.timeoutSeconds * 1000,
    testResolve: config.testing.outboundResolve,
    testCaFile: config.testing.outboundCaFile,
  });
  // The library looks a client up more than once per request and caches only successes; remembering a failure
  // for a few seconds keeps a slow or refused host from costing each request the timeout twice (and from being
  // hammered through us). Bounded, oldest first out.
  const recentFailures = new Map<string, number>();
  const budget = createHostBudget({ fetchesPerMinute: settings.hostFetchesPerMinute, clientsPerHost: settings.hostClients, clientTtlMs: settings.cacheMaxSeconds * 1000 });
  const remember = (target: string) => {
    recentFailures.delete(target);
    recentFailures.set(target, Date.now());
    if (recentFailures.size > 1000) recentFailures.delete(recentFailures.keys().next().value!);
  };
  return {
    feature: {
      enabled: true,
      ack: 'draft-02',
      async allowFetch(_ctx: unknown, clientId: string) {
        const allowed = mayFetchDocument(settings, clientId);
        if (!allowed) log('client_metadata_document.refused', { clientId: clientId.slice(0, 300), reason: 'host is not on GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOSTS' });
        return allowed;
      },
      async allowClient(_ctx: unknown, client: DocumentClient) {
        const problem = documentClientProblem(settings, client, { requireDpop: config.dpop.publicClientsRequireDpop });
        // false: the library answers invalid_client ("client is not allowed"); the reason goes to the log only.
        if (problem) log('client_metadata_document.refused', { clientId: client.clientId, reason: problem });
        return problem === undefined;
      },
      cacheDuration: { min: settings.cacheMinSeconds, max: settings.cacheMaxSeconds },
    },
    fetch(fallback) {
      return async (url, init) => {
        const target = String(url instanceof Request ? url.url : url);
        if (!mayFetchDocument(settings, target)) return fallback(url, init);
        const failedAt = recentFailures.get(target);
        if (failedAt !== undefined && Date.now() - failedAt < failureMemoryMs) throw new Error('the last fetch of this document failed moments ago');
        const overBudget = budget.spend(new URL(target).hostname.toLowerCase(), target);
        if (overBudget) {
          // Nothing leaves Gatehouse; the library answers invalid_client "client_id metadata document fetch failed".
          log('client_metadata_document.refused', { clientId: target.slice(0, 300), reason: overBudget });
          throw new Error(overBudget);
        }
        try {
          return await guarded(url, init);
        } catch (error) {
          remember(target);
          // The library answers invalid_client "client_id metadata document fetch failed"; why, only here.
          const cause = (error as { cause?: { message?: string } }).cause?.message;
          log('client_metadata_document.fetch_failed', { clientId: target.slice(0, 300), reason: [(error as Error).message, cause].filter(Boolean).join(': ') });
          throw error;
        }
      };
    },
    bodyLimits: { [documentPurpose]: settings.maxBytes },
  };
}
