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
import { dpopSigningAlgValues } from '../oidc/dpop.js';
import type { Services } from '../services.js';
import { createBearerVerifier } from './bearer.js';
import type { Operation } from './operation.js';
import { openApiDocument } from './openapi.js';
import { adminRouter } from './router.js';
import { clientOperations } from './routes/clients.js';
import { auditOperations, keyOperations } from './routes/operations.js';
import { resourceOperations } from './routes/resources.js';
import { sessionOperations } from './routes/sessions.js';
import { statsOperations } from './routes/stats.js';
import { userOperations } from './routes/users.js';

export interface AdminApiDeps {
  config: Pick<Config, 'issuer' | 'admin'>;
  services: Services;
  auditReader: AuditReader;
  publicJwks: { keys: JWK[] };
  certificate(ctx: Context): X509Certificate | undefined;
  log: Logger;
  bodyLimit: number;
}

export function adminOperations(services: Services, auditReader: AuditReader, issuer: string): Operation[] {
  return [...userOperations(services), ...sessionOperations(services), ...clientOperations(services), ...resourceOperations(services, { issuer, dpopSigningAlgs: dpopSigningAlgValues }), ...keyOperations(services), ...auditOperations(auditReader), ...statsOperations(services)];
}

export function adminApi(deps: AdminApiDeps) {
  const operations = adminOperations(deps.services, deps.auditReader, deps.config.issuer);
  const document = JSON.stringify(openApiDocument(operations, deps.config.issuer));
  return adminRouter({
    operations,
    verify: createBearerVerifier(() => deps.publicJwks, { issuer: deps.config.issuer, requireBoundTokens: deps.config.admin.requireBoundTokens }),
    certificate: deps.certificate,
    audit: deps.services.audit,
    log: deps.log,
    bodyLimit: deps.bodyLimit,
    findAccount: (id) => deps.services.accounts.findById(id),
    maxAuthAgeSeconds: deps.config.admin.maxAuthAgeSeconds,
    publicRoutes: {
      '/openapi.json': (ctx) => {
        ctx.type = 'application/json';
        ctx.set('Cache-Control', 'public, max-age=300');
        ctx.body = document;
      },
    },
  });
}
