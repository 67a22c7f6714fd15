import { errors, type ResourceServer } from 'oidc-provider';

import { adminAudience, adminScopes, mayRequestAdminTokens } from '../resources/admin-audience.js';
import type { ResourceServer as ResourceServerRecord, ResourceService } from '../resources/resources.js';

/**
 * RFC 8707 resource indicators. A registered resource server gets JWT access
 * tokens (RFC 9068, `typ: at+jwt`) signed with its algorithm, or opaque ones if
 * its operator chose so; an unregistered `resource` is `invalid_target`.
 */
export function resourceIndicators(resources: ResourceService, admin: { tokenTtl: number; alg: 'ES256' | 'RS256' | 'PS256' | 'EdDSA' }) {
  return {
    enabled: true,
    // An authorization-code client that named its API at /authorize need not name it again at /token.
    useGrantedResource: async () => true,
    getResourceServerInfo(_ctx: unknown, indicator: string, client: { [key: string]: unknown }): ResourceServer | Promise<ResourceServer> {
      // A dynamically registered client carries the list its registration policy allowed; operator-made clients carry none.
      const allowed = client['resources'];
      if (Array.isArray(allowed) && !allowed.includes(indicator)) throw new errors.InvalidTarget('resource indicator is not allowed for this client');
      if (indicator === adminAudience) {
        // Dynamically registered clients carry a resource list and are refused here too.
        if (!mayRequestAdminTokens(client)) throw new errors.InvalidTarget('resource indicator is not allowed for this client');
        return { scope: adminScopes.join(' '), audience: adminAudience, accessTokenTTL: admin.tokenTtl, accessTokenFormat: 'jwt', jwt: { sign: { alg: admin.alg } } };
      }
      const cached = resources.cached(indicator);
      return cached ? serverInfo(cached) : resources.find(indicator).then(serverInfo);
    },
  };
}

function serverInfo(rs: ResourceServerRecord | undefined): ResourceServer {
  if (!rs) throw new errors.InvalidTarget('resource indicator is not registered');
  return {
    scope: rs.scopes.join(' '),
    audience: rs.audience,
    accessTokenTTL: rs.accessTokenTtl,
    accessTokenFormat: rs.tokenFormat,
    ...(rs.tokenFormat === 'jwt' ? { jwt: { sign: { alg: rs.signingAlg as 'ES256' | 'RS256' | 'PS256' | 'EdDSA' } } } : {}),
  };
}
