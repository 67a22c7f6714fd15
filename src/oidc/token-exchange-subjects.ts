/**
 * What a token presented to the token-exchange grant (RFC 8693 §2.1) stands
 * for: a Gatehouse access token, JWT (RFC 9068) or opaque, or a Gatehouse API
 * key. Anything that does not verify, has expired, was revoked, or whose
 * client or user no longer stands is refused as `invalid_request` (§2.2.2:
 * "If the subject_token or actor_token is invalid for any reason").
 */
import { createLocalJWKSet } from 'jose';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';

import type { ApiKeyService } from '../api-keys/api-keys.js';
import type { KeySet } from '../keys/keystore.js';
import type { AccessTokenRevocations } from '../tokens/revocation-list.js';
import type { IntrospectionPolicy, TokenFacts } from './introspection-policy.js';
import { factsOf, verifyAccessTokenJwt } from './jwt-access-tokens.js';

export const tokenTypes = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  apiKey: 'urn:gatehouse:params:oauth:token-type:api-key',
} as const;

/** RFC 8693 §4.1: the acting party, with the chain of earlier actors nested inside. */
export interface ActClaim {
  sub: string;
  client_id?: string;
  act?: ActClaim;
}

export interface PresentedToken {
  /** `user`: sub is an account id; `client`: sub is a client id (a client-credentials token, a client's API key). */
  kind: 'user' | 'client';
  sub: string;
  /** The client the token was issued to (for an API key: its owner when a client, else undefined). */
  clientId: string | undefined;
  scopes: Set<string>;
  /** Epoch seconds. */
  exp: number;
  act: ActClaim | undefined;
  /** What the audit trail calls it: `jwt`, `opaque` or `api_key:<id>`. */
  label: string;
  facts: TokenFacts | undefined;
}

export interface SubjectDeps {
  issuer: string;
  keys: KeySet;
  policy: IntrospectionPolicy;
  revocations: AccessTokenRevocations;
  apiKeys: ApiKeyService;
}

/** The key's refusal, as the caller sees it: over budget is 429 (retry later), the rest one undistinguished invalid_request. */
export class ApiKeyOverBudget extends errors.OIDCProviderError {
  constructor(readonly retryAfterSeconds: number) {
    super(429, 'temporarily_unavailable');
    this.error_description = 'the API key has used up its rate budget; retry later';
  }
}

const invalid = (which: string) => new errors.InvalidRequest(`${which} is invalid, expired or revoked`);
const scopesOf = (scope: unknown) => new Set(typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []);

function isActClaim(value: unknown, depth = 0): value is ActClaim {
  if (depth > 10 || typeof value !== 'object' || value === null) return false;
  const act = value as Record<string, unknown>;
  return typeof act.sub === 'string' && (act.act === undefined || isActClaim(act.act, depth + 1));
}

export function createSubjectReader(deps: SubjectDeps) {
  const jwks = createLocalJWKSet(deps.keys.publicJwks);

  async function standing(facts: TokenFacts, jti?: string): Promise<boolean> {
    if (jti !== undefined) {
      const revoked = deps.revocations.isRevoked(jti);
      if (revoked === true || (typeof revoked !== 'boolean' && (await revoked))) return false;
    }
    return deps.policy.stillStands(facts);
  }

  async function accessToken(ctx: KoaContextWithOIDC, value: string, which: string): Promise<PresentedToken> {
    if (value.split('.').length === 3) {
      const claims = await verifyAccessTokenJwt(value, jwks, deps.issuer);
      if (!claims || !(await standing(factsOf(claims), claims.jti))) throw invalid(which);
      const facts = factsOf(claims);
      return {
        kind: facts.accountId === undefined ? 'client' : 'user',
        sub: claims.sub,
        clientId: claims.client_id,
        scopes: scopesOf(claims.scope),
        exp: claims.exp,
        act: isActClaim(claims.act) ? claims.act : undefined,
        label: 'jwt',
        facts,
      };
    }
    const { provider } = ctx.oidc;
    const token = (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value));
    if (!token?.isValid || token.exp === undefined) throw invalid(which);
    const accountId = (token as { accountId?: string }).accountId;
    const facts: TokenFacts = { clientId: token.clientId!, accountId, aud: (token as { aud?: unknown }).aud, issuedAt: token.iat, stored: true };
    if (!(await standing(facts))) throw invalid(which);
    const act = (token as { extra?: { act?: unknown } }).extra?.act;
    return {
      kind: accountId ? 'user' : 'client',
      sub: accountId ?? token.clientId!,
      clientId: token.clientId,
      scopes: scopesOf(token.scope),
      exp: token.exp,
      act: isActClaim(act) ? act : undefined,
      label: 'opaque',
      facts,
    };
  }

  async function apiKey(ctx: KoaContextWithOIDC, value: string): Promise<PresentedToken> {
    const use = await deps.apiKeys.use(value, ctx.ip);
    if (!use.ok) {
      if (use.reason === 'budget') {
        ctx.set('Retry-After', String(use.retryAfterSeconds ?? 1));
        throw new ApiKeyOverBudget(use.retryAfterSeconds ?? 1);
      }
      throw invalid('subject_token');
    }
    const { key } = use;
    return {
      kind: key.owner.kind,
      sub: key.owner.id,
      clientId: key.owner.kind === 'client' ? key.owner.id : undefined,
      scopes: new Set(key.scopes),
      exp: key.expiresAt ? Math.floor(key.expiresAt.getTime() / 1000) : Number.MAX_SAFE_INTEGER,
      act: undefined,
      label: `api_key:${key.id}`,
      facts: undefined,
    };
  }

  return {
    /** The subject_token: an access token or an API key, by its declared type. */
    async subject(ctx: KoaContextWithOIDC, value: string, type: string): Promise<PresentedToken> {
      if (type === tokenTypes.apiKey) return apiKey(ctx, value);
      if (type === tokenTypes.accessToken || type === tokenTypes.jwt) return accessToken(ctx, value, 'subject_token');
      throw new errors.InvalidRequest('unsupported subject_token_type');
    },
    /** The actor_token: an access token only (an API key stands for its owner, never for an acting party). */
    async actor(ctx: KoaContextWithOIDC, value: string, type: string): Promise<PresentedToken> {
      if (type === tokenTypes.accessToken || type === tokenTypes.jwt) return accessToken(ctx, value, 'actor_token');
      throw new errors.InvalidRequest('unsupported actor_token_type');
    },
  };
}
