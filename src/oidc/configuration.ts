/**
 * Everything Gatehouse tells oidc-provider. Each choice that differs from the
 * library's default says why; the library's defaults are documented in its
 * lib/helpers/defaults.js.
 */
import { errors, type Configuration, type Grant } from 'oidc-provider';

import { standardClaims } from '../accounts/claims.js';
import type { Services } from '../services.js';
import { isLoopbackHost, type Config } from '../config/index.js';
import type { KeySet } from '../keys/keystore.js';
import type { Views } from '../http/views.js';
import { contentSecurityPolicy, formTargetFor } from '../http/headers.js';
import { libraryRoutes, mtlsEndpointAliases, routes, type LibraryFeature } from '../http/route-table.js';
import { acrValues } from './acr.js';
import { createAdapterFactory } from './adapter.js';
import { mtlsFeature, type TrustStore } from './mtls.js';
import type { CertificateSource } from '../http/client-certificate.js';
import { widenGrant } from './grants.js';
import { interactionPolicyFor } from './second-factor-prompt.js';
import { registrationClientMetadata, registrationFeatures, sectorIdentifierUriValidate } from './registration.js';
import { resourceIndicators } from './resources.js';
import { createIntrospectionPolicy, notYourToken, revocationDecision } from './introspection-policy.js';
import { dpopFeature, dpopSigningAlgValues, requireDpopForPublicClients } from './dpop.js';
import { allowedAlgorithms, fapiAuthMethods, fapiClientMetadata, fapiConfiguration, securityProfileProperty, validateSecurityProfile } from './fapi.js';
import { adminTokenClaims } from './admin-token-claims.js';
import { deviceFlowFeature } from './device-flow.js';
import { exchangeTokenClaims } from './token-exchange.js';
import { rbacTokenClaims } from './rbac-claims.js';
import { adminScopes } from '../resources/admin-audience.js';
import type { Logger } from '../observability/logger.js';
import { metadataDocumentWiring } from './client-metadata-documents.js';

export interface ProviderDeps {
  config: Config;
  services: Services;
  views: Views;
  /** Cookie signing keys; derived from the master secret so they survive a provider swap. */
  cookieKeys: string[];
  /** RFC 8705, when an mTLS listener or a certificate-forwarding proxy is configured. */
  mtls?: { source: CertificateSource; trust: TrustStore; origin: string } | undefined;
  /** RFC 9449 §8 nonces; derived from the master secret so every node issues and accepts the same ones. */
  dpopNonceSecret: Buffer;
  /** For events the library would otherwise swallow (a refused client metadata document). */
  log?: Logger | undefined;
}

const interactionPath = routes.byName('interaction').path;

/** Scope → claims released (OIDC Core §5.4). */
const claims = {
  // auth_time, acr and amr in every ID token, not only when a request asks (max_age, acr_values):
  // relying parties enforcing step-up or session age read them unconditionally.
  openid: ['sub', 'auth_time', 'acr', 'amr'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username', 'updated_at'],
  email: ['email', 'email_verified'],
  // The names of the user's roles, direct and through groups (issue 15 §3, docs/rbac.md); at most GATEHOUSE_RBAC_CLAIM_LIMIT of them.
  roles: ['roles'],
  acr: null,
  amr: null,
  auth_time: null,
  sid: null,
} as const;

/** Loopback targets without the library's SSRF dispatcher; everything else with it. */
const loopbackFetch = (url: URL | string | Request, options?: RequestInit) =>
  isLoopbackHost(new URL(url instanceof Request ? url.url : url).hostname) ? globalThis.fetch(url, { ...options, dispatcher: undefined } as RequestInit) : globalThis.fetch(url, options);

export function providerConfiguration(deps: ProviderDeps, keys: KeySet): Configuration {
  const { config, services, views } = deps;
  const ttl = config.ttl;
  const secureCookies = config.issuer.startsWith('https:');
  const introspectionPolicy = createIntrospectionPolicy(services);
  const fapi = fapiConfiguration(config.profile);
  const algs = (list: string[]) => allowedAlgorithms(config.profile, list);
  // What the library reads for a client: the stored metadata under Gatehouse's sender-constraint policies.
  const clientPolicy = (metadata: Record<string, unknown>) =>
    fapiClientMetadata(config.profile, config.dpop.publicClientsRequireDpop ? requireDpopForPublicClients(metadata) : metadata);

  const documents = metadataDocumentWiring(config, (event, detail) => deps.log?.warn({ event, ...detail }, event));
  const libraryFetch = config.backchannelLogout.allowLoopback ? loopbackFetch : undefined;

  const configuration: Configuration = {
    // Every path from the route table (src/http/route-table.ts), which the edge reads too.
    routes: libraryRoutes(),
    adapter: createAdapterFactory({ artifacts: services.artifacts, clients: services.clients, registrations: services.registrations, clientPolicy }),
    clients: [],
    jwks: keys.jwks,
    acrValues: [...acrValues],
    claims: claims as unknown as Configuration['claims'],
    // The admin scopes are known to the library so an operator can grant them in a client's `scope`
    // (lib/helpers/client_schema.js refuses unknown ones); only the admin audience grants them (oidc/resources.ts).
    scopes: ['openid', 'offline_access', 'profile', 'email', 'roles', ...adminScopes],
    // `act` on exchanged tokens (RFC 8693 §4.1, src/oidc/token-exchange.ts); roles/groups (RFC 9068 §7.2.1.1); acr/auth_time on admin tokens.
    extraTokenClaims: async (ctx, token) => {
      const claims = { ...(await rbacTokenClaims(token, services.resources, services.rbac)), ...(await adminTokenClaims(ctx, token)), ...exchangeTokenClaims(token) };
      return Object.keys(claims).length ? claims : undefined;
    },
    responseTypes: ['code'],
    // PKCE for every client, confidential ones too (OAuth 2.1, RFC 9700 §2.1.1); S256 is the only method the library accepts.
    pkce: { required: () => true },
    // OIDC Core §3.1.2.1 makes redirect_uri REQUIRED; do not guess it.
    allowOmittingSingleRegisteredRedirectUri: false,
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'ES256',
      response_types: ['code'],
      token_endpoint_auth_method: config.profile === 'fapi2' ? 'private_key_jwt' : 'client_secret_basic',
    },
    enabledJWA: {
      idTokenSigningAlgValues: algs(['ES256', 'RS256', 'PS256', 'EdDSA']),
      userinfoSigningAlgValues: algs(['ES256', 'RS256', 'PS256', 'EdDSA']),
      introspectionSigningAlgValues: algs(['ES256', 'RS256', 'PS256', 'EdDSA']),
      authorizationSigningAlgValues: algs(['ES256', 'RS256', 'PS256', 'EdDSA']),
      // HS256 needs the client secret in a recoverable form, which it is (encrypted), so client_secret_jwt stays available.
      clientAuthSigningAlgValues: algs(['HS256', 'ES256', 'RS256', 'PS256', 'EdDSA']),
      dPoPSigningAlgValues: [...dpopSigningAlgValues],
    } as Configuration['enabledJWA'],
    assertJwtClientAuthClaimsAndHeader: fapi.assertJwtClientAuthClaimsAndHeader as Configuration['assertJwtClientAuthClaimsAndHeader'],
    rotateRefreshToken: fapi.rotateRefreshToken,
    sectorIdentifierUriValidate,
    // The library's fetch carries an SSRF-protecting dispatcher (lib/helpers/fetch_request.js:215-235) that refuses
    // loopback; GATEHOUSE_BACKCHANNEL_LOGOUT_ALLOW_LOOPBACK (never in production) lets loopback relying parties through.
    ...(libraryFetch ? { fetch: libraryFetch } : {}),
    // Client ID Metadata Documents, when GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOSTS names hosts: their URLs go through the address guard.
    ...(documents
      ? {
          fetch: documents.fetch((libraryFetch ?? ((url, init) => globalThis.fetch(url, init))) as Parameters<typeof documents.fetch>[0]) as unknown as Configuration['fetch'],
          fetchResponseBodyLimits: documents.bodyLimits,
        }
      : {}),
    extraClientMetadata: {
      // require_mfa: every sign-in to this client needs a second factor, whatever the request asks.
      // allowed_scopes: an operator's scope list, the resource-server scopes included (src/clients/schemas.ts, oidcScopes).
      properties: ['first_party', 'require_mfa', 'allowed_scopes', securityProfileProperty, ...registrationClientMetadata.properties],
      validator(_ctx, key, value, metadata) {
        if (key === 'allowed_scopes' && value !== undefined && typeof value !== 'string') throw new Error('allowed_scopes must be a string');
        if (key === securityProfileProperty) validateSecurityProfile(config.profile, value, metadata as Record<string, unknown>);
        if ((key === 'first_party' || key === 'require_mfa') && value !== undefined && typeof value !== 'boolean') {
          throw new Error(`${key} must be a boolean`);
        }
        registrationClientMetadata.validate(key, value);
      },
    },
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', secure: secureCookies, signed: true },
      short: { httpOnly: true, sameSite: 'lax', secure: secureCookies, signed: true },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl.clientCredentials,
      AuthorizationCode: fapi.authorizationCodeTtl(ttl.authorizationCode) as NonNullable<Configuration['ttl']>['AuthorizationCode'],
      IdToken: ttl.idToken,
      Interaction: ttl.interaction,
      DeviceCode: config.deviceFlow.codeTtl,
      Session: ttl.session,
      Grant: ttl.grant,
      RefreshToken(ctx, token, client) {
        // A rotated public-client refresh token keeps the first one's expiry, so
        // rotation cannot extend a stolen token's life (library default behaviour).
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (rotated && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) return rotated.remainingTTL;
        return ttl.refreshToken;
      },
    },
    clientAuthMethods: ([
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      'none',
      ...(deps.mtls ? (['tls_client_auth', 'self_signed_tls_client_auth'] as const) : []),
    ] as const).filter((method) => config.profile !== 'fapi2' || fapiAuthMethods.includes(method)),
    features: {
      ...(deps.mtls ? { mTLS: mtlsFeature(deps.mtls.source, deps.mtls.trust) } : {}),
      devInteractions: { enabled: false },
      // Logout tokens go through Gatehouse's queue, not inline (src/oidc/backchannel-logout.ts).
      backchannelLogout: { enabled: true },
      dPoP: dpopFeature(config.dpop, deps.dpopNonceSecret),
      fapi: fapi.fapi,
      pushedAuthorizationRequests: fapi.pushedAuthorizationRequests,
      clientCredentials: { enabled: true },
      // RFC 8628, for clients registered with the device_code grant (src/clients/metadata.ts userGrants).
      deviceFlow: deviceFlowFeature({ views, audit: services.audit }),
      introspection: {
        enabled: true,
        // Who may learn about an opaque token, and whether its client and user still stand:
        // src/oidc/introspection-policy.ts (JWT access tokens get the same, src/oidc/jwt-access-tokens.ts).
        async allowedPolicy(_ctx, client, token) {
          const facts = { clientId: token.clientId!, accountId: (token as { accountId?: string }).accountId, aud: (token as { aud?: unknown }).aud, issuedAt: token.iat, stored: true };
          return (await introspectionPolicy.mayIntrospect(client, facts)) && introspectionPolicy.stillStands(facts);
        },
      },
      revocation: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) {
          const decision = revocationDecision(client, token.clientId!);
          if (decision === 'refuse') throw new errors.InvalidRequest(notYourToken);
          return decision === 'revoke';
        },
      },
      ...registrationFeatures(services.registrations),
      userinfo: { enabled: true },
      resourceIndicators: resourceIndicators(services.resources, services.clients, services.rbac, { tokenTtl: config.admin.tokenTtlSeconds, alg: config.keys.algorithms[0]! }, config.clientMetadataDocuments),
      ...(documents ? { clientIdMetadataDocument: documents.feature } : {}),
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          // The confirmation may lead on to the upstream's logout (src/oidc/upstream-session-end.ts): form-action must allow it.
          const upstream = ctx.oidc.session?.uid ? await services.upstreamSessionEnd.logoutOrigin(ctx.oidc.session.uid) : undefined;
          ctx.set('Content-Security-Policy', contentSecurityPolicy([...formTargetFor(ctx.oidc.params?.post_logout_redirect_uri), ...(upstream ? [upstream] : [])]));
          ctx.type = 'html';
          ctx.body = views.render('logout.njk', { form, client: ctx.oidc.client?.clientName });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = views.render('logged-out.njk', { client: ctx.oidc.client?.clientName });
        },
      },
    },
    interactions: {
      url: (_ctx, interaction) => `${interactionPath}/${interaction.uid}`,
      policy: interactionPolicyFor({ requiredForAll: config.mfa.required, hasFactor: services.mfa.hasFactor }),
    },
    async findAccount(_ctx, sub) {
      const account = await services.accounts.findById(sub);
      // A disabled account's refresh tokens and userinfo calls stop working at once.
      if (!account || account.disabled) return undefined;
      return {
        accountId: account.id,
        // The library releases only the claims of granted scopes (and requested claims): `roles` needs the roles scope.
        claims: async (_use: string, scope: string) => ({
          ...standardClaims(account),
          ...(scope.split(' ').includes('roles') ? { roles: (await services.rbac.effective({ kind: 'user', id: account.id })).roles } : {}),
        }) as { sub: string },
      };
    },
    /**
     * The library's default (lib/helpers/defaults.js:548-556) finds only the
     * grant of the current session, so a user who allowed a client is asked
     * again at every new sign-in. Like other providers, Gatehouse remembers
     * consent per account and client instead: the newest live grant is
     * reused until it is revoked (sign-out everywhere, refresh-token replay,
     * RP-initiated logout, lib/actions/end_session.js:162) or expires. A
     * request for more scopes, claims or resources than it holds still gets
     * the consent page for just those (the library's consent prompt compares
     * the request with this grant), and `prompt=consent` always does.
     */
    async loadExistingGrant(ctx) {
      const clientId = ctx.oidc.client!.clientId;
      const accountId = ctx.oidc.session!.accountId!;
      const candidates = [ctx.oidc.result?.consent?.grantId, ctx.oidc.session?.grantIdFor(clientId)];
      let existing: Grant | undefined;
      for (const grantId of candidates) {
        existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
        if (existing) break;
      }
      if (!existing) {
        const remembered = await services.artifacts.latestGrantId(accountId, clientId);
        const grant = remembered ? await ctx.oidc.provider.Grant.find(remembered) : undefined;
        if (grant?.accountId === accountId && grant.clientId === clientId) existing = grant;
      }
      // First-party clients (operator-flagged) are the IdP's own applications: asking
      // the user to consent to them is noise, so their grant covers what they ask.
      if (ctx.oidc.client?.['first_party'] !== true) return existing;
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId, accountId });
      widenGrant(grant, {
        oidcScopes: [...ctx.oidc.requestParamOIDCScopes],
        claims: ctx.oidc.requestParamClaims ? [...ctx.oidc.requestParamClaims] : [],
        resourceScopes: Object.fromEntries(
          Object.entries(ctx.oidc.resourceServers ?? {}).map(([indicator, rs]) => [indicator, [...ctx.oidc.requestParamScopes].filter((s) => rs.scopes.has(s))]),
        ),
      });
      await grant.save();
      return grant;
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = views.render('error.njk', {
        error: out.error,
        description: out.error_description,
        requestId: ctx.state.requestId,
      });
    },
  };
  if (deps.mtls) {
    const features = configuration.features as Record<string, { enabled?: boolean } | undefined>;
    const enabled = (feature: LibraryFeature) => features[feature]?.enabled === true;
    // RFC 8705 §5: the endpoints a certificate-bound client calls on the mTLS origin, from the route table.
    configuration.discovery = { mtls_endpoint_aliases: mtlsEndpointAliases(deps.mtls.origin, enabled) };
  }
  return configuration;
}
