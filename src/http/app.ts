/**
 * buildProvider: the whole HTTP application for one key set. oidc-provider is
 * the root koa app (mounting it inside another app breaks its cookies), so
 * Gatehouse adds two layers with provider.use: the edge (src/http/edge.ts: request
 * context, error boundary, headers, limits, rate limits, error codes, log
 * line) and its own routes (health, metrics, JWKS, revocation audit, static
 * assets, interaction pages); everything else falls through to the library.
 * Rate limits sit inside the error boundary (a store failure is still a clean
 * answer) and before everything that costs: parsing, client lookups, argon2.
 * A key change builds a new provider with this same function and swaps it in
 * through the ProviderHandle.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

import Provider from 'oidc-provider';
import type { Logger } from 'pino';

import { adminApi } from '../admin/index.js';
import { consoleRoutes } from '../console/routes.js';
import type { AuditReader } from '../audit/reader.js';
import type { Config } from '../config/index.js';
import type { KeySet } from '../keys/keystore.js';
import type { Csrf } from '../interactions/csrf.js';
import { interactionRoutes } from '../interactions/routes.js';
import { homePage, setupPage } from '../interactions/setup.js';
import { recoveryPages } from '../interactions/recovery.js';
import { signupPages } from '../interactions/signup.js';
import { staticAssets } from '../interactions/static.js';
import type { Views } from './views.js';
import { edge } from './edge.js';
import { federationJwksRoute, upstreamBackchannelLogoutRoute, upstreamLogoutReturnRoute } from './federation-routes.js';
import { bindUpstreamSession, endUpstreamSession } from '../oidc/upstream-session-end.js';
import { auditProviderEvents, auditRevocations } from '../oidc/audit-events.js';
import { queueLibraryLogouts } from '../oidc/backchannel-logout.js';
import { signOutOnRefreshReplay } from '../oidc/replay-sign-out.js';
import { healthRoutes, type ReadinessCheck } from '../observability/health.js';
import type { Metrics } from '../observability/metrics.js';
import { metricsRoute } from '../observability/metrics-route.js';
import { requestContext } from './request-context.js';
import { providerConfiguration, type ProviderDeps } from '../oidc/configuration.js';
import { jwksRoute } from '../oidc/jwks.js';
import { pathInsertedMetadata } from '../oidc/authorization-server-metadata.js';
import { createIntrospectionPolicy } from '../oidc/introspection-policy.js';
import { jwtAccessTokens } from '../oidc/jwt-access-tokens.js';
import { installSharedReplayDetection } from '../oidc/dpop.js';
import { acceptPreviousSecrets } from '../oidc/client-secrets.js';
import { resourceIndicators } from '../oidc/resources.js';
import { registeredScope } from '../oidc/registration-scope.js';
import { installTokenExchange } from '../oidc/token-exchange.js';
import type { ClientAddress } from './client-ip.js';
import { errorBoundary } from './errors.js';
import { rateLimiter, type RateLimits } from './rate-limit.js';
import { ownRoutes } from './own-routes.js';
import { canonicalOrigins, pinRequestOrigin } from './origin.js';
import { routes } from './route-table.js';
import type { Services } from '../services.js';
import { codeVerificationGuard, deviceAuthorizationInterval, devicePolling, deviceResumeGuard } from '../oidc/device-flow.js';

export interface AppDeps {
  config: Config;
  log: Logger;
  services: Services;
  views: Views;
  csrf: Csrf;
  cookieKeys: string[];
  readiness: ReadinessCheck;
  /** Built once per process, not per provider: leases, counters and metrics outlive a key swap. */
  clientAddress: ClientAddress;
  rateLimits: RateLimits;
  metrics: Metrics;
  dpopNonceSecret: Buffer;
  /** RFC 8705, when an mTLS listener or a certificate-forwarding proxy is configured (src/oidc/configuration.ts). */
  mtls?: ProviderDeps['mtls'];
  /** Read side of the audit trail, for the admin API's search and verification. */
  auditReader: AuditReader;
  /** The separate admin listener's URL (GATEHOUSE_ADMIN_PORT), which the OpenAPI document names as its server. */
  adminUrl?: string | undefined;
  /** This node's own listener URL: the console's backend redeems its codes there (src/console/self-request.ts). */
  selfUrl: () => string;
}

export function buildProvider(deps: AppDeps, keys: KeySet): Provider {
  const { config, log } = deps;
  const provider = new Provider(config.issuer, providerConfiguration(deps, keys));
  provider.proxy = config.trustProxy;
  installSharedReplayDetection(provider, deps.services.replay, deps.services.audit);
  const issuerOrigin = new URL(config.issuer).origin;
  pinRequestOrigin(provider, issuerOrigin);
  acceptPreviousSecrets(provider, deps.services.clientSecrets);
  const introspectionPolicy = createIntrospectionPolicy(deps.services);
  installTokenExchange(provider, {
    issuer: config.issuer,
    keys,
    policy: introspectionPolicy,
    introspection: introspectionPolicy,
    revocations: deps.services.accessTokenRevocations,
    apiKeys: deps.services.apiKeys,
    policies: deps.services.exchangePolicies,
    audit: deps.services.audit,
    apiKeyTokenTtl: config.ttl.apiKeyToken,
    resourceServerInfo: resourceIndicators(deps.services.resources, deps.services.clients, deps.services.rbac, { tokenTtl: config.admin.tokenTtlSeconds, alg: config.keys.algorithms[0]! }, config.clientMetadataDocuments).getResourceServerInfo,
  });

  provider.use(
    edge({
      routes,
      context: requestContext(log, { clientAddress: deps.clientAddress, onComplete: deps.metrics.observeRequest }),
      boundary: errorBoundary(log, deps.views),
      origins: canonicalOrigins(config.issuer, deps.mtls?.origin),
      separateAdmin: config.admin.enabled && config.admin.port !== undefined,
      rateLimiter: rateLimiter({
        limits: deps.rateLimits,
        views: deps.views,
        log,
        onLimited: (cls, key) => {
          deps.metrics.rateLimited(cls, key);
          deps.services.rollups.count('rate_limited', cls);
        },
        usableInitialAccessToken: async (value) => (await deps.services.initialAccessTokens.findUsable(value))?.id,
      }),
    }),
  );
  const interactions = interactionRoutes({ services: deps.services, views: deps.views, csrf: deps.csrf, mfaRequiredForAll: config.mfa.required });
  const health = healthRoutes(deps.readiness);
  const jwtTokens = jwtAccessTokens({
    issuer: config.issuer,
    keys,
    policy: introspectionPolicy,
    revocations: deps.services.accessTokenRevocations,
  });
  const revocationAudit = auditRevocations(deps.services.audit);
  const recovery = recoveryPages({ recovery: deps.services.passwordRecovery, verification: deps.services.emailVerification, views: deps.views, csrf: deps.csrf, resetTtlSeconds: config.mail.resetTtlSeconds });
  const admin = config.admin.enabled
    ? adminApi({
        config,
        services: deps.services,
        auditReader: deps.auditReader,
        publicJwks: keys.publicJwks,
        certificate: (ctx) => deps.mtls?.source.certificate(ctx),
        log,
        bodyLimit: routes.byName('admin').bodyLimit,
        serverUrl: deps.adminUrl,
        views: deps.views,
      })
    : undefined;
  provider.use(
    ownRoutes({
      healthz: health,
      readyz: health,
      metrics: metricsRoute(deps.metrics.registry, config.metrics.token),
      jwks: jwksRoute(keys, config.keys.jwksMaxAgeSeconds),
      oauth_discovery_path: pathInsertedMetadata(config.issuer),
      introspection: jwtTokens.introspection,
      revocation: (ctx, next) => revocationAudit(ctx, () => jwtTokens.revocation(ctx, next)),
      static: staticAssets(),
      interaction: interactions,
      setup: setupPage({ setup: deps.services.setup, views: deps.views, csrf: deps.csrf, issuer: config.issuer }),
      home: homePage({ views: deps.views, issuer: config.issuer }),
      recovery,
      verify_email: recovery,
      signup: signupPages({ signups: deps.services.signups, views: deps.views, csrf: deps.csrf, minLength: config.passwords.minLength, invitationTtlSeconds: config.signup.invitationTtlSeconds }),
      federation_callback: interactions,
      federation_jwks: federationJwksRoute(deps.services.upstreams),
      federation_backchannel_logout: upstreamBackchannelLogoutRoute(deps.services.upstreamLogout),
      federation_logout_return: upstreamLogoutReturnRoute(deps.services.upstreamSessionEnd, deps.views),
      resume: bindUpstreamSession(deps.services.upstreamSessionEnd, config.ttl.session),
      end_session_confirm: endUpstreamSession(deps.services.upstreamSessionEnd),
      code_verification: codeVerificationGuard({ guards: deps.services.deviceFlow, views: deps.views, audit: deps.services.audit }),
      device_resume: deviceResumeGuard({ views: deps.views }),
      device_authorization: deviceAuthorizationInterval({ guards: deps.services.deviceFlow, audit: deps.services.audit }),
      token: devicePolling({ guards: deps.services.deviceFlow, audit: deps.services.audit }),
      registration: registeredScope,
      client: registeredScope,
      ...(admin
        ? {
            admin,
            // The console calls only the admin API, so it exists only with it.
            console: consoleRoutes({
              issuer: config.issuer,
              selfUrl: deps.selfUrl,
              sessions: deps.services.consoleSessions,
              accounts: deps.services.accounts,
              publicJwks: keys.publicJwks,
              views: deps.views,
              admin,
            }),
          }
        : {}),
    }),
  );

  // The library answers these itself with a generic body; the detail is logged here.
  provider.on('server_error', (ctx, error) => {
    // The edge's error boundary reads the cause (a database outage answers 503, src/http/errors.ts).
    ctx.state.serverError = error;
    log.error({ requestId: ctx.state.requestId, err: error }, 'provider server_error');
  });
  provider.on('grant.error', (ctx, error) => {
    log.info({ requestId: ctx.state.requestId, error: (error as { error?: string }).error, clientId: ctx.oidc?.client?.clientId }, 'token request rejected');
  });
  // Koa prints unhandled errors to stderr unless someone listens; they belong in the JSON log.
  (provider as unknown as EventEmitter).on('error', (error: unknown, ctx?: { state?: { requestId?: string } }) => {
    log.error({ requestId: ctx?.state?.requestId, err: error }, 'unhandled request error');
  });
  jwtTokens.listen(provider);
  auditProviderEvents(provider, deps.services.audit);
  // A token issued is a use: registrations under a policy that expires unused clients stay while they are used.
  provider.on('grant.success', (ctx: { oidc?: { client?: { clientId: string } } }) => {
    const clientId = ctx.oidc?.client?.clientId;
    if (clientId) deps.services.unusedClients.touch(clientId).catch((error: unknown) => log.warn({ err: error, clientId }, 'client use not recorded'));
  });
  queueLibraryLogouts(provider, deps.services.sessions.logouts);
  signOutOnRefreshReplay(provider, deps.services.sessions, log);
  return provider;
}

/**
 * The only mutable global the design allows: which provider serves requests.
 * Listeners call `callback`, which forwards to the current provider; `swap`
 * replaces it, and requests already inside the old one finish there.
 */
export class ProviderHandle {
  #provider: Provider;
  #handler: (req: IncomingMessage, res: ServerResponse) => void;

  constructor(provider: Provider) {
    this.#provider = provider;
    this.#handler = provider.callback() as (req: IncomingMessage, res: ServerResponse) => void;
  }

  get current(): Provider {
    return this.#provider;
  }

  swap(provider: Provider): void {
    const handler = provider.callback() as (req: IncomingMessage, res: ServerResponse) => void;
    this.#provider = provider;
    this.#handler = handler;
  }

  readonly callback = (req: IncomingMessage, res: ServerResponse): void => {
    this.#handler(req, res);
  };
}
