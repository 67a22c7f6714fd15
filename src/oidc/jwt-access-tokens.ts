/**
 * Introspection (RFC 7662) and revocation (RFC 7009) of Gatehouse's own JWT
 * access tokens (RFC 9068), which oidc-provider 9.13.3 refuses.
 *
 * The library looks a presented token up by value in its adapter
 * (lib/helpers/token_find.js:39-61, lib/models/base_model.js:114-131), and a
 * JWT access token is never stored there (lib/models/formats/jwt.js:97-191
 * returns a value without a payload), so before it looks, it refuses every
 * JWT: lib/shared/reject_structured_tokens.js:5-18 throws
 * UnsupportedTokenType, in lib/actions/introspection.js:33 and
 * lib/actions/revocation.js:29, after client authentication
 * (lib/shared/client_auth.js) has succeeded. That error is the only place the
 * library raises `unsupported_token_type`; Gatehouse notes it (the
 * `introspection.error` / `revocation.error` event carries the request) and,
 * once the library's pipeline has returned, answers in its place for the
 * client the library authenticated:
 *
 * - introspection verifies the token against the published keys (active,
 *   next and retired-but-published ones: what /jwks serves), the issuer, `typ:
 *   at+jwt` (RFC 9068 §4) and `exp`; then the revocation list, the token's
 *   client and user (disabled: inactive) and who may ask
 *   (src/oidc/introspection-policy.ts). Anything else is `{active: false}`.
 * - revocation verifies the same way and lists the `jti` until the token
 *   expires (src/tokens/revocation-list.ts), for the client the token was
 *   issued to, as the library's default revocationAllowedPolicy
 *   (lib/helpers/defaults.js:209-225) does for opaque tokens. An invalid or
 *   expired token is a 200 that changes nothing (RFC 7009 §2.2).
 *
 * A library upgrade that introspects JWTs itself, or stops raising
 * UnsupportedTokenType there, is caught by test/integration/jwt-access-tokens.
 */
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';

import { signingAlgorithms, type KeySet } from '../keys/keystore.js';
import type { AccessTokenRevocations } from '../tokens/revocation-list.js';
import { notYourToken, revocationDecision, type Caller, type IntrospectionPolicy, type TokenFacts } from './introspection-policy.js';

export interface AccessTokenClaims extends JWTPayload {
  jti: string;
  exp: number;
  iat: number;
  sub: string;
  client_id: string;
  scope?: string;
  cnf?: { jkt?: string; 'x5t#S256'?: string };
}

export interface JwtAccessTokenDeps {
  issuer: string;
  keys: KeySet;
  policy: IntrospectionPolicy;
  revocations: AccessTokenRevocations;
}

/** ctx.state key: the library refused the presented token as a structured (JWT) one. */
const structuredToken = 'gatehouseStructuredTokenRefused';

interface Refused {
  token: string;
  client: Caller;
}

/** The presented JWT and the authenticated client, when the library refused the token as structured. */
function refusedStructuredToken(ctx: Context): Refused | undefined {
  if (!ctx.state[structuredToken]) return undefined;
  const oidc = (ctx as { oidc?: { client?: Caller; params?: { token?: unknown } } }).oidc;
  const token = oidc?.params?.token;
  if (!oidc?.client || typeof token !== 'string') return undefined;
  return { token, client: oidc.client };
}

export const factsOf = (claims: AccessTokenClaims): TokenFacts => ({
  clientId: claims.client_id,
  // lib/models/formats/jwt.js:118 writes `sub: accountId || clientId`: a client-credentials token's subject is its client.
  accountId: claims.sub === claims.client_id ? undefined : claims.sub,
  aud: claims.aud,
  issuedAt: claims.iat,
});

/** A Gatehouse JWT access token's claims if its signature, issuer, `typ` and expiry hold; undefined otherwise. */
export async function verifyAccessTokenJwt(value: string, jwks: ReturnType<typeof createLocalJWKSet>, issuer: string): Promise<AccessTokenClaims | undefined> {
  try {
    const { payload } = await jwtVerify(value, jwks, {
      issuer,
      typ: 'at+jwt',
      algorithms: [...signingAlgorithms],
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id', 'aud'],
    });
    if (typeof payload.client_id !== 'string' || typeof payload.sub !== 'string' || typeof payload.jti !== 'string') return undefined;
    return payload as AccessTokenClaims;
  } catch {
    return undefined;
  }
}

export function jwtAccessTokens(deps: JwtAccessTokenDeps) {
  const { policy, revocations } = deps;
  const jwks = createLocalJWKSet(deps.keys.publicJwks);

  const verified = (value: string) => verifyAccessTokenJwt(value, jwks, deps.issuer);

  async function isActive(claims: AccessTokenClaims): Promise<boolean> {
    const revoked = revocations.isRevoked(claims.jti);
    if (revoked === true || (typeof revoked !== 'boolean' && (await revoked))) return false;
    return policy.stillStands(factsOf(claims));
  }

  /** RFC 7662 §2.2: the token's own claims, with the fields a resource server branches on. */
  function describe(claims: AccessTokenClaims) {
    return {
      ...claims,
      active: true,
      // RFC 9449 §6.2: a DPoP-bound token is introspected as `DPoP`.
      token_type: claims.cnf?.jkt ? 'DPoP' : 'Bearer',
    };
  }

  async function introspection(ctx: Context, next: Next): Promise<void> {
    await next();
    const refused = refusedStructuredToken(ctx);
    if (!refused) return;
    const claims = await verified(refused.token);
    const visible = claims !== undefined && (await policy.mayIntrospect(refused.client, factsOf(claims))) && (await isActive(claims));
    ctx.status = 200;
    ctx.body = visible ? describe(claims) : { active: false };
  }

  async function revocation(ctx: Context, next: Next): Promise<void> {
    await next();
    const refused = refusedStructuredToken(ctx);
    if (!refused) return;
    const claims = await verified(refused.token);
    const decision = claims ? revocationDecision(refused.client, claims.client_id) : 'ignore';
    if (decision === 'refuse') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: notYourToken };
      return;
    }
    if (decision === 'revoke') {
      await revocations.revoke(
        { kind: 'client', clientId: refused.client.clientId },
        { jti: claims!.jti, clientId: claims!.client_id, expiresAt: new Date(claims!.exp * 1000) },
      );
    }
    ctx.status = 200;
    ctx.body = '';
  }

  return {
    introspection,
    revocation,
    /** Notes the library's refusal of a structured token, for the middlewares above to answer in its place. */
    listen(provider: Provider): void {
      const note = (ctx: Context, error: { error?: string }) => {
        if (error.error === 'unsupported_token_type') ctx.state[structuredToken] = true;
      };
      provider.on('introspection.error', note);
      provider.on('revocation.error', note);
    },
  };
}

/** The library's refusal that Gatehouse answers itself (src/oidc/audit-events.ts does not record it as a refusal). */
export const isStructuredTokenRefusal = (error: { error?: string }) => error.error === 'unsupported_token_type';
