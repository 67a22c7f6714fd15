/**
 * Everything Gatehouse tells oidc-provider. Each choice that differs from the
 * library's default says why; the library's defaults are documented in its
 * lib/helpers/defaults.js.
 */
import type { Configuration } from 'oidc-provider';

import { standardClaims } from '../accounts/accounts.js';
import type { Services } from '../services.js';
import type { Config } from '../config/index.js';
import type { KeySet } from '../keys/keystore.js';
import type { Views } from '../http/views.js';
import { contentSecurityPolicy, formTargetFor } from '../http/headers.js';
import { acrValues } from './acr.js';
import { createAdapterFactory } from './adapter.js';
import { mtlsFeature, type TrustStore } from './mtls.js';
import type { CertificateSource } from '../http/client-certificate.js';
import { widenGrant } from './grants.js';
import { interactionPolicyFor } from './second-factor-prompt.js';
import { registrationClientMetadata, registrationFeatures, sectorIdentifierUriValidate } from './registration.js';
import { resourceIndicators } from './resources.js';
import { adminTokenClaims } from './admin-token-claims.js';
import { adminScopes } from '../resources/admin-audience.js';

export interface ProviderDeps {
  config: Config;
  services: Services;
  views: Views;
  /** Cookie signing keys; derived from the master secret so they survive a provider swap. */
  cookieKeys: string[];
  /** RFC 8705, when an mTLS listener or a certificate-forwarding proxy is configured. */
  mtls?: { source: CertificateSource; trust: TrustStore; origin: string } | undefined;
}

/** Endpoints a certificate-bound client calls on the mTLS origin (RFC 8705 §5). */
function mtlsEndpointAliases(origin: string) {
  return {
    token_endpoint: `${origin}/token`,
    introspection_endpoint: `${origin}/token/introspection`,
    revocation_endpoint: `${origin}/token/revocation`,
    userinfo_endpoint: `${origin}/me`,
    pushed_authorization_request_endpoint: `${origin}/request`,
  };
}

/** Scope → claims released (OIDC Core §5.4). */
const claims = {
  // auth_time, acr and amr in every ID token, not only when a request asks (max_age, acr_values):
  // relying parties enforcing step-up or session age read them unconditionally.
  openid: ['sub', 'auth_time', 'acr', 'amr'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username', 'updated_at'],
  email: ['email', 'email_verified'],
  acr: null,
  amr: null,
  auth_time: null,
  sid: null,
} as const;

export function providerConfiguration(deps: ProviderDeps, keys: KeySet): Configuration {
  const { config, services, views } = deps;
  const ttl = config.ttl;
  const secureCookies = config.issuer.startsWith('https:');

  return {
    adapter: createAdapterFactory({ artifacts: services.artifacts, clients: services.clients, registrations: services.registrations }),
    clients: [],
    jwks: keys.jwks,
    acrValues: [...acrValues],
    claims: claims as unknown as Configuration['claims'],
    // The admin scopes are known to the library so an operator can grant them in a client's `scope`
    // (lib/helpers/client_schema.js refuses unknown ones); only the admin audience grants them (oidc/resources.ts).
    scopes: ['openid', 'offline_access', 'profile', 'email', ...adminScopes],
    extraTokenClaims: adminTokenClaims,
    responseTypes: ['code'],
    // PKCE for every client, confidential ones too (OAuth 2.1, RFC 9700 §2.1.1); S256 is the only method the library accepts.
    pkce: { required: () => true },
    // OIDC Core §3.1.2.1 makes redirect_uri REQUIRED; do not guess it.
    allowOmittingSingleRegisteredRedirectUri: false,
    clientDefaults: {
      grant_types: ['authorization_code'],
      id_token_signed_response_alg: 'ES256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      userinfoSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      introspectionSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      authorizationSigningAlgValues: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      // HS256 needs the client secret in a recoverable form, which it is (encrypted), so client_secret_jwt stays available.
      clientAuthSigningAlgValues: ['HS256', 'ES256', 'RS256', 'PS256', 'EdDSA'],
    },
    sectorIdentifierUriValidate,
    extraClientMetadata: {
      // require_mfa: every sign-in to this client needs a second factor, whatever the request asks.
      properties: ['first_party', 'require_mfa', ...registrationClientMetadata.properties],
      validator(_ctx, key, value) {
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
      AuthorizationCode: ttl.authorizationCode,
      IdToken: ttl.idToken,
      Interaction: ttl.interaction,
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
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      'none',
      ...(deps.mtls ? (['tls_client_auth', 'self_signed_tls_client_auth'] as const) : []),
    ],
    ...(deps.mtls ? { discovery: { mtls_endpoint_aliases: mtlsEndpointAliases(deps.mtls.origin) } } : {}),
    features: {
      ...(deps.mtls ? { mTLS: mtlsFeature(deps.mtls.source, deps.mtls.trust) } : {}),
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client learns about its own tokens; a public client never learns about anyone else's.
        async allowedPolicy(_ctx, client, token) {
          if (client.clientAuthMethod === 'none') return token.clientId === client.clientId;
          return token.clientId === client.clientId || isAudience(client.clientId, token);
        },
      },
      revocation: { enabled: true },
      ...registrationFeatures(services.registrations),
      userinfo: { enabled: true },
      resourceIndicators: resourceIndicators(services.resources, { tokenTtl: config.admin.tokenTtlSeconds, alg: config.keys.algorithms[0]! }),
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.set('Content-Security-Policy', contentSecurityPolicy(formTargetFor(ctx.oidc.params?.post_logout_redirect_uri)));
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
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: interactionPolicyFor({ requiredForAll: config.mfa.required, hasFactor: services.mfa.hasFactor }),
    },
    async findAccount(_ctx, sub) {
      const account = await services.accounts.findById(sub);
      // A disabled account's refresh tokens and userinfo calls stop working at once.
      if (!account || account.disabled) return undefined;
      return {
        accountId: account.id,
        claims: async () => standardClaims(account) as { sub: string },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId);
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      // First-party clients (operator-flagged) are the IdP's own applications: asking
      // the user to consent to them is noise, so their grant covers what they ask.
      if (ctx.oidc.client?.['first_party'] !== true) return existing;
      const grant = existing ?? new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session!.accountId! });
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
}

/**
 * A resource server registered as a confidential client whose client id is its
 * audience may introspect the tokens issued for it (RFC 7662 §2.1).
 */
function isAudience(clientId: string, token: object): boolean {
  const aud = (token as { aud?: unknown }).aud;
  const audiences = Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : [];
  return audiences.includes(clientId);
}
