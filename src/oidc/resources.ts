import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';

import type { ClientService } from '../clients/clients.js';
import type { RbacService } from '../rbac/rbac.js';
import { adminAudience, adminScopes, mayRequestAdminTokens } from '../resources/admin-audience.js';
import type { ResourceServer as ResourceServerRecord, ResourceService } from '../resources/resources.js';
import type { Config } from '../config/index.js';
import { documentClientResources, isMetadataDocumentClient } from './client-metadata-documents.js';
import { fapiAlgorithms } from './fapi.js';
import { narrowToHeld, subjectOf } from './rbac-scopes.js';

/** The admin API as RBAC sees it: always on, and a scope the person lacks is left out (the client may ask for every scope it was given). */
const adminResource = { audience: adminAudience, unheldScopes: 'drop' } as const;

/**
 * RFC 8707 resource indicators. A registered resource server gets JWT access
 * tokens (RFC 9068, `typ: at+jwt`) signed with its algorithm, or opaque ones if
 * its operator chose so; an unregistered `resource` is `invalid_target`.
 */
export function resourceIndicators(
  resources: ResourceService,
  clients: Pick<ClientService, 'accessOf'>,
  rbac: RbacService,
  admin: { tokenTtl: number; alg: 'ES256' | 'RS256' | 'PS256' | 'EdDSA' },
  documents: Config['clientMetadataDocuments'],
) {
  return {
    enabled: true,
    /**
     * A request that names no resource is for the client's default resource
     * server, when the operator bound it to one (`--default-resource`): many
     * client libraries never send `resource`. The library asks here for
     * client-credentials and authorization requests without one
     * (lib/shared/check_resource.js:38-44); `oneOf` is its question at the
     * token endpoint when several were granted (lib/helpers/resolve_resource.js:23-25),
     * answered as the library's default does (lib/helpers/defaults.js:281-284).
     */
    async defaultResource(_ctx: unknown, client: { clientId: string }, oneOf?: readonly string[]): Promise<string | readonly string[] | undefined> {
      if (oneOf) return oneOf;
      const access = await clients.accessOf(client.clientId);
      return access?.defaultResource ?? undefined;
    },
    // An authorization-code client that named its API at /authorize need not name it again at /token.
    useGrantedResource: async () => true,
    getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: { [key: string]: unknown }): ResourceServer | Promise<ResourceServer> {
      // A dynamically registered client carries the list its registration policy allowed; operator-made clients carry none.
      // A metadata-document client: only the servers the operator opened to them (GATEHOUSE_CLIENT_METADATA_DOCUMENT_RESOURCES).
      const allowed = isMetadataDocumentClient(client) ? documentClientResources(documents, client) : client['resources'];
      if (Array.isArray(allowed) && !allowed.includes(indicator)) throw new errors.InvalidTarget('resource indicator is not allowed for this client');
      if (indicator === adminAudience) {
        // Dynamically registered clients carry a resource list and are refused here too.
        if (!mayRequestAdminTokens(client)) throw new errors.InvalidTarget('resource indicator is not allowed for this client');
        // Only the admin scopes the operator gave this client (RFC 6749 §3.3).
        const given = new Set(['scope', 'allowed_scopes'].flatMap((key) => (typeof client[key] === 'string' ? (client[key] as string).split(' ') : [])));
        const asked = String((ctx?.oidc?.params as { scope?: unknown } | undefined)?.scope ?? '').split(' ').filter((s) => s.startsWith('admin:'));
        const refused = asked.filter((s) => !given.has(s));
        if (refused.length) throw new errors.InvalidScope('requested scope is not allowed', refused.join(' '));
        const answer: ResourceServer = { scope: adminScopes.filter((s) => given.has(s)).join(' '), audience: adminAudience, accessTokenTTL: admin.tokenTtl, accessTokenFormat: 'jwt', jwt: { sign: { alg: admin.alg } } };
        // A service client holds what the operator gave it; a person only what their roles carry too (issue 15 §4): an auditor's token never has a write scope.
        return subjectOf(ctx)?.kind === 'client' ? answer : narrowToHeld(ctx, adminResource, answer, rbac);
      }
      // An operator-made client with a scope list gets only those of the server's scopes (RFC 6749 §3.3).
      const granted = typeof client['allowed_scopes'] === 'string' ? new Set(client['allowed_scopes'].split(' ')) : undefined;
      const fapi = ctx?.oidc?.isFapi('2.0') === '2.0';
      // RBAC on: only what the subject holds, among what the client may ask for (src/oidc/rbac-scopes.ts).
      const info = (rs: ResourceServerRecord | undefined) => {
        const answer = serverInfo(rs, granted, fapi);
        return rs?.rbac ? narrowToHeld(ctx, rs, answer, rbac) : answer;
      };
      const cached = resources.cached(indicator);
      return cached ? info(cached) : resources.find(indicator).then(info);
    },
  };
}

function serverInfo(rs: ResourceServerRecord | undefined, granted: ReadonlySet<string> | undefined, fapi: boolean): ResourceServer {
  if (!rs) throw new errors.InvalidTarget('resource indicator is not registered');
  // FAPI 2.0 allows only PS256, ES256 and EdDSA signatures, access tokens included.
  if (fapi && rs.tokenFormat === 'jwt' && !fapiAlgorithms.includes(rs.signingAlg)) throw new errors.InvalidTarget('the resource server\'s token signing algorithm is not allowed by the FAPI 2.0 profile');
  return {
    scope: (granted ? rs.scopes.filter((s) => granted.has(s)) : rs.scopes).join(' '),
    audience: rs.audience,
    accessTokenTTL: rs.accessTokenTtl,
    accessTokenFormat: rs.tokenFormat,
    ...(rs.tokenFormat === 'jwt' ? { jwt: { sign: { alg: rs.signingAlg as 'ES256' | 'RS256' | 'PS256' | 'EdDSA' } } } : {}),
  };
}
