/**
 * Gatehouse as a relying party of an upstream, through openid-client (a
 * certified RP library, as the issue asks): authorization code with PKCE
 * (S256), `state`, `nonce`, the RFC 9207 `iss` response parameter when the
 * upstream advertises it, and ID token validation (signature from its JWKS,
 * `iss`, `aud`, `azp`, `exp`, `nonce`). What comes back is the upstream's
 * claims, ID token first, then userinfo for what the ID token left out.
 */
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
  /** Kept for RP-initiated logout at the upstream (`id_token_hint`); never stored. */
  endSessionEndpoint: string | undefined;
}

export interface UpstreamClient {
  authorizationUrl(target: UpstreamTarget, checks: AuthorizationChecks, redirectUri: string): Promise<URL>;
  /** Redeems the code the callback carries; throws (openid-client's errors) on any check that fails. */
  redeem(target: UpstreamTarget, callbackUrl: URL, checks: AuthorizationChecks): Promise<UpstreamIdentity>;
}

/** Discovery is cached per upstream version for five minutes: a sign-in costs no extra round trip, a rotated JWKS is followed by the library. */
const discoveryTtlMs = 5 * 60 * 1000;
const requestTimeoutSeconds = 10;

function clientAuthOf(target: UpstreamTarget): oidc.ClientAuth {
  switch (target.clientAuth) {
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
      config = await oidc.discovery(new URL(target.issuer), target.clientId, undefined, clientAuthOf(target), { execute, timeout: requestTimeoutSeconds });
    } else {
      const endpoints = target.endpoints!;
      config = new oidc.Configuration(
        { issuer: target.issuer, authorization_endpoint: endpoints.authorization, token_endpoint: endpoints.token, userinfo_endpoint: endpoints.userinfo },
        target.clientId,
        undefined,
        clientAuthOf(target),
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
      if (!isOidc) return { claims: await oauthProfile(config, target, tokens.access_token), amr: [], acr: undefined, endSessionEndpoint: undefined };
      const idToken = tokens.claims()!;
      let claims: Record<string, unknown> = { ...idToken };
      if (config.serverMetadata().userinfo_endpoint) {
        // The subject check (OIDC Core §5.3.4) stops a userinfo answer about someone else.
        const info = await oidc.fetchUserInfo(config, tokens.access_token, idToken.sub);
        claims = { ...info, ...idToken };
      }
      const amr = Array.isArray(idToken.amr) ? idToken.amr.filter((v): v is string => typeof v === 'string') : [];
      return { claims, amr, acr: typeof idToken.acr === 'string' ? idToken.acr : undefined, endSessionEndpoint: config.serverMetadata().end_session_endpoint };
    },
  };
}
