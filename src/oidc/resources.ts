import { errors, type ResourceServer } from 'oidc-provider';

import type { ResourceServer as ResourceServerRecord, ResourceService } from '../resources/resources.js';

/**
 * RFC 8707 resource indicators. A registered resource server gets JWT access
 * tokens (RFC 9068, `typ: at+jwt`) signed with its algorithm, or opaque ones if
 * its operator chose so; an unregistered `resource` is `invalid_target`.
 */
export function resourceIndicators(resources: ResourceService) {
  return {
    enabled: true,
    // An authorization-code client that named its API at /authorize need not name it again at /token.
    useGrantedResource: async () => true,
    getResourceServerInfo(_ctx: unknown, indicator: string, client: { [key: string]: unknown }): ResourceServer | Promise<ResourceServer> {
      // A dynamically registered client carries the list its registration policy allowed; operator-made clients carry none.
      const allowed = client['resources'];
      if (Array.isArray(allowed) && !allowed.includes(indicator)) throw new errors.InvalidTarget('resource indicator is not allowed for this client');
      // An operator-made client with a scope list gets only those of the server's scopes (RFC 6749 §3.3).
      const granted = typeof client['allowed_scopes'] === 'string' ? new Set(client['allowed_scopes'].split(' ')) : undefined;
      const info = (rs: ResourceServerRecord | undefined) => serverInfo(rs, granted);
      const cached = resources.cached(indicator);
      return cached ? info(cached) : resources.find(indicator).then(info);
    },
  };
}

function serverInfo(rs: ResourceServerRecord | undefined, granted: ReadonlySet<string> | undefined): ResourceServer {
  if (!rs) throw new errors.InvalidTarget('resource indicator is not registered');
  return {
    scope: (granted ? rs.scopes.filter((s) => granted.has(s)) : rs.scopes).join(' '),
    audience: rs.audience,
    accessTokenTTL: rs.accessTokenTtl,
    accessTokenFormat: rs.tokenFormat,
    ...(rs.tokenFormat === 'jwt' ? { jwt: { sign: { alg: rs.signingAlg as 'ES256' | 'RS256' | 'PS256' | 'EdDSA' } } } : {}),
  };
}
