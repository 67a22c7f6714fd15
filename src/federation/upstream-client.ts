/**
 * Gatehouse as a relying party of an upstream, through openid-client (a
 * certified RP library, as the issue asks): authorization code with PKCE
 * (S256), `state`, `nonce`, the RFC 9207 `iss` response parameter when the
 * upstream advertises it, and ID token validation (signature from its JWKS,
 * `iss`, `aud`, `azp`, `exp`, `nonce`). What comes back is the upstream's
 * claims, ID token first, then userinfo for what the ID token left out.
 */
import { importJWK, type CryptoKey, type JWK } from 'jose';
import * as oidc from 'openid-client';

import type { OAuthEndpoints, UpstreamClientAuth } from './schemas.js';

/** What the client needs of an upstream's configuration. */
export interface UpstreamTarget {
  id: string;
  protocol: 'oidc' | 'oauth2';
  issuer: string;
  endpoints: OAuthEndpoints | undefined;
  clientId: string;
  clientSecret: string | undefined;
  clientAuth: UpstreamClientAuth;
  /** private_key_jwt: the private JWK (opened from its seal for this request only). */
  signingKey: JWK | undefined;
  scopes: string[];
  /** The row's version: a change to the upstream drops its cached discovery. */
  updatedAt: Date;
}

export interface AuthorizationChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface UpstreamIdentity {
  claims: Record<string, unknown>;
  /** The ID token's `amr` and `acr` (an OAuth 2.0 upstream has neither). */
  amr: string[];
  acr: string | undefined;
  /** The upstream's end_session_endpoint (OpenID RP-Initiated Logout 1.0), when its discovery names one. */
  endSessionEndpoint: string | undefined;
  /** The ID token itself, for `id_token_hint` when Gatehouse ends the upstream session (stored sealed, src/federation/session-end.ts). */
  idToken: string | undefined;
  /** The upstream's session id (ID token `sid`), for its back-channel logout tokens. */
  sid: string | undefined;
}

export interface UpstreamClient {
  authorizationUrl(target: UpstreamTarget, checks: AuthorizationChecks, redirectUri: string): Promise<URL>;
  /** Redeems the code the callback carries; throws (openid-client's errors) on any check that fails. */
  redeem(target: UpstreamTarget, callbackUrl: URL, checks: AuthorizationChecks): Promise<UpstreamIdentity>;
  /** The upstream's jwks_uri from its discovery (back-channel logout tokens are checked against it). */
  jwksUri(target: UpstreamTarget): Promise<string | undefined>;
  /** The upstream's end_session_endpoint from its discovery; undefined for OAuth 2.0 upstreams and those without one. */
  endSessionEndpoint(target: UpstreamTarget): Promise<string | undefined>;
}

/** Discovery is cached per upstream version for five minutes: a sign-in costs no extra round trip, a rotated JWKS is followed by the library. */
const discoveryTtlMs = 5 * 60 * 1000;
const requestTimeoutSeconds = 10;

async function clientAuthOf(target: UpstreamTarget): Promise<oidc.ClientAuth> {
  switch (target.clientAuth) {
    case 'private_key_jwt': {
      if (!target.signingKey) throw new Error('the upstream has no signing key for private_key_jwt');
      const key = (await importJWK(target.signingKey, 'ES256')) as CryptoKey;
      // The assertion's `aud` is the upstream's issuer identifier (oauth4webapi), as RFC 7523 §3 and the FAPI profiles read it.
      return oidc.PrivateKeyJwt({ key, kid: target.signingKey.kid! });
    }
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(target.clientSecret);
    case 'client_secret_post':
      return oidc.ClientSecretPost(target.clientSecret);
    case 'none':
      return oidc.None();
  }
}

export function createUpstreamClient(options: { allowHttpLoopback: boolean }): UpstreamClient {
  const cache = new Map<string, { config: oidc.Configuration; expires: number }>();
  const execute = options.allowHttpLoopback ? [oidc.allowInsecureRequests] : [];

  async function configurationOf(target: UpstreamTarget): Promise<oidc.Configuration> {
    const key = `${target.id}:${target.updatedAt.getTime()}`;
    const hit = cache.get(key);
    if (hit && hit.expires > Date.now()) return hit.config;
    let config: oidc.Configuration;
    if (target.protocol === 'oidc') {
      config = await oidc.discovery(new URL(target.issuer), target.clientId, undefined, await clientAuthOf(target), { execute, timeout: requestTimeoutSeconds });
    } else {
      const endpoints = target.endpoints!;
      config = new oidc.Configuration(
        { issuer: target.issuer, authorization_endpoint: endpoints.authorization, token_endpoint: endpoints.token, userinfo_endpoint: endpoints.userinfo },
        target.clientId,
        undefined,
        await clientAuthOf(target),
      );
      for (const enable of execute) enable(config);
    }
    config.timeout = requestTimeoutSeconds;
    for (const [k, v] of cache) if (v.expires <= Date.now() || k.startsWith(`${target.id}:`)) cache.delete(k);
    cache.set(key, { config, expires: Date.now() + discoveryTtlMs });
    return config;
  }

  async function oauthProfile(config: oidc.Configuration, target: UpstreamTarget, accessToken: string): Promise<Record<string, unknown>> {
    const endpoints = target.endpoints!;
    const read = async (url: string) => {
      const response = await oidc.fetchProtectedResource(config, accessToken, new URL(url), 'GET', undefined, new Headers({ accept: 'application/json' }));
      if (!response.ok) throw new Error(`upstream ${url} answered ${response.status}`);
      return (await response.json()) as unknown;
    };
    const profile = (await read(endpoints.userinfo)) as Record<string, unknown>;
    // GitHub: the profile's `email` is whatever the user made public, unverified; the verified
    // primary address comes from the emails list. Without that list nothing is verified.
    const claims: Record<string, unknown> = { ...profile, email_verified: false };
    if (endpoints.emails) {
      const emails = (await read(endpoints.emails)) as Array<{ email?: unknown; primary?: unknown; verified?: unknown }>;
      const primary = Array.isArray(emails) ? emails.find((e) => e.primary === true && e.verified === true && typeof e.email === 'string') : undefined;
      if (primary) Object.assign(claims, { email: primary.email, email_verified: true });
    }
    return claims;
  }

  return {
    async authorizationUrl(target, checks, redirectUri) {
      const config = await configurationOf(target);
      const parameters: Record<string, string> = {
        redirect_uri: redirectUri,
        scope: target.scopes.join(' '),
        state: checks.state,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      };
      if (target.protocol === 'oidc') parameters.nonce = checks.nonce;
      return oidc.buildAuthorizationUrl(config, parameters);
    },

    async redeem(target, callbackUrl, checks) {
      const config = await configurationOf(target);
      const isOidc = target.protocol === 'oidc';
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        ...(isOidc ? { expectedNonce: checks.nonce, idTokenExpected: true } : {}),
      });
      if (!isOidc) return { claims: await oauthProfile(config, target, tokens.access_token), amr: [], acr: undefined, endSessionEndpoint: undefined, idToken: undefined, sid: undefined };
      const idToken = tokens.claims()!;
      let claims: Record<string, unknown> = { ...idToken };
      if (config.serverMetadata().userinfo_endpoint) {
        // The subject check (OIDC Core §5.3.4) stops a userinfo answer about someone else.
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
        claims = { ...info, ...idToken };
      }
      const amr = Array.isArray(idToken.amr) ? idToken.amr.filter((v): v is string => typeof v === 'string') : [];
      return { claims, amr, acr: typeof idToken.acr === 'string' ? idToken.acr : undefined, endSessionEndpoint: config.serverMetadata().end_session_endpoint, idToken: tokens.id_token, sid: typeof idToken.sid === 'string' ? idToken.sid : undefined };
    },

    async endSessionEndpoint(target) {
      if (target.protocol !== 'oidc') return undefined;
      return (await configurationOf(target)).serverMetadata().end_session_endpoint;
    },

    async jwksUri(target) {
      if (target.protocol !== 'oidc') return undefined;
      return (await configurationOf(target)).serverMetadata().jwks_uri;
    },
  };
}
