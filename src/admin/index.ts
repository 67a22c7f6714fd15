/**
 * The admin API (issue 14), assembled: every operation, the bearer verifier
 * over the current key set, and the router. Built per provider (a key change
 * builds a new one with the new JWKS).
 */
import type { X509Certificate } from 'node:crypto';

import type { JWK } from 'jose';
import type { Context } from 'koa';
import type { Logger } from 'pino';

import type { AuditReader } from '../audit/reader.js';
import type { Config } from '../config/index.js';
import type { Views } from '../http/views.js';
import { dpopSigningAlgValues } from '../oidc/dpop.js';
import { createIntrospectionPolicy } from '../oidc/introspection-policy.js';
import { factsOf } from '../oidc/jwt-access-tokens.js';
import { adminAudience } from '../resources/admin-audience.js';
import type { Services } from '../services.js';
import { createBearerVerifier, type BearerSettings } from './bearer.js';
import type { Operation } from './operation.js';
import { openApiDocument } from './openapi.js';
import { referenceModel } from './reference.js';
import { adminPrefix, adminRouter } from './router.js';
import { apiKeyOperations } from './routes/api-keys.js';
import { clientOperations } from './routes/clients.js';
import { exchangePolicyOperations } from './routes/exchange-policies.js';
import { auditOperations, keyOperations } from './routes/operations.js';
import { registrationOperations } from './routes/registration.js';
import { rbacOperations } from './routes/rbac.js';
import { resourceOperations } from './routes/resources.js';
import { passkeyOperations } from './routes/passkeys.js';
import { invitationOperations } from './routes/invitations.js';
import { sessionOperations } from './routes/sessions.js';
import { statsOperations } from './routes/stats.js';
import { upstreamOperations } from './routes/upstreams.js';
import { userOperations } from './routes/users.js';

export interface AdminApiDeps {
  config: Pick<Config, 'issuer' | 'admin'>;
  services: Services;
  auditReader: AuditReader;
  publicJwks: { keys: JWK[] };
  certificate(ctx: Context): X509Certificate | undefined;
  log: Logger;
  bodyLimit: number;
  /** Renders the served reference page (views/admin-reference.njk). */
  views: Views;
  /** Where the API is served when not under the issuer (a separate admin listener). */
  serverUrl?: string | undefined;
}

export function adminOperations(services: Services, auditReader: AuditReader, issuer: string): Operation[] {
  return [...userOperations(services), ...passkeyOperations(services), ...invitationOperations(services), ...sessionOperations(services), ...clientOperations(services), ...apiKeyOperations(services), ...exchangePolicyOperations(services), ...resourceOperations(services, { issuer, dpopSigningAlgs: dpopSigningAlgValues }), ...registrationOperations(services), ...keyOperations(services), ...upstreamOperations(services, issuer), ...auditOperations(auditReader), ...rbacOperations(services), ...statsOperations(services)];
}

/** A verified admin token stands while its jti is not revoked and its client, user and cutoffs allow it. */
function tokenStanding(services: Services): BearerSettings['stands'] {
  const policy = createIntrospectionPolicy(services);
  return async (claims) => {
    const revoked = services.accessTokenRevocations.isRevoked(claims.jti);
    if (revoked === true || (typeof revoked !== 'boolean' && (await revoked))) return false;
    return policy.stillStands(factsOf(claims));
  };
}

export function adminApi(deps: AdminApiDeps) {
  const operations = adminOperations(deps.services, deps.auditReader, deps.config.issuer);
  const described = openApiDocument(operations, deps.config.issuer, deps.serverUrl);
  const document = JSON.stringify(described);
  const server = (described.servers as Array<{ url: string }>)[0]!.url;
  // Rendered once: the operations are fixed for this provider's life. Local stylesheet only, the strict CSP holds.
  const reference = deps.views.render('admin-reference.njk', { ...referenceModel(described), server, openapi: `${adminPrefix}/openapi.json` });
  return adminRouter({
    operations,
    verify: createBearerVerifier(() => deps.publicJwks, { issuer: deps.config.issuer, requireBoundTokens: deps.config.admin.requireBoundTokens, stands: tokenStanding(deps.services), firstUse: deps.services.replay.firstUse }),
    certificate: deps.certificate,
    audit: deps.services.audit,
    log: deps.log,
    bodyLimit: deps.bodyLimit,
    findAccount: (id) => deps.services.accounts.findById(id),
    heldAdminScopes: async (id) => (await deps.services.rbac.effective({ kind: 'user', id })).scopesAt(adminAudience),
    maxAuthAgeSeconds: deps.config.admin.maxAuthAgeSeconds,
    idempotency: { store: deps.services.adminIdempotency, ttlSeconds: deps.config.admin.idempotencyTtlSeconds },
    serverUrl: server,
    publicRoutes: {
      '/openapi.json': (ctx) => {
        ctx.type = 'application/json';
        ctx.set('Cache-Control', 'public, max-age=300');
        ctx.body = document;
      },
      '/reference': (ctx) => {
        ctx.type = 'html';
        ctx.set('Cache-Control', 'public, max-age=300');
        ctx.body = reference;
      },
    },
  });
}
