/**
 * Who may learn what about a token, for opaque tokens (the library's
 * features.introspection.allowedPolicy) and JWT access tokens (answered by
 * src/oidc/jwt-access-tokens.ts) alike, and whether a token still stands.
 *
 * RFC 7662 §2.1 leaves the first to the authorization server. Gatehouse
 * answers: a client about its own tokens; a confidential client about tokens
 * whose audience is its client id, or the audiences an operator authorised it
 * for (`gatehouse clients update --introspect`, src/clients/access.ts); a
 * public client about nothing else.
 */
import type { AccountService } from '../accounts/accounts.js';
import { audiencesOf, mayIntrospectAudiences } from '../clients/access.js';
import type { ClientService } from '../clients/clients.js';
import type { SessionService } from '../sessions/sessions.js';

export interface Caller {
  clientId: string;
  clientAuthMethod?: string | undefined;
}

export interface TokenFacts {
  /** The client the token was issued to. */
  clientId: string;
  /** The user it was issued for; undefined for a client-credentials token. */
  accountId?: string | undefined;
  aud?: unknown;
  /** `iat`, epoch seconds: a token issued at or before a cutoff of its account or client is inactive (src/sessions/). */
  issuedAt?: number | undefined;
  /**
   * Whether the token is a stored (opaque) artifact. Every cutoff deletes the
   * stored artifacts it covers in the same transaction (src/sessions/), so a
   * stored token issued in the cutoff's own second survived it and was issued
   * after it; only an unstored JWT has nothing but its one-second `iat`.
   */
  stored?: boolean | undefined;
}

export interface IntrospectionPolicy {
  /** Whether `caller` may be told that this token is active, and what it holds. */
  mayIntrospect(caller: Caller, token: TokenFacts): Promise<boolean>;
  /**
   * Whether the token's client and user are still live. Disabling either stops
   * their tokens at once: the library checks neither at introspection (and
   * lib/actions/introspection.js:123-126 dereferences `Client.find` of the
   * token's client unchecked when a resource server asks about a user's
   * token, which would be a 500 for a disabled client). Nor does re-enabling
   * either bring back what was issued before: the cutoffs of src/sessions/.
   */
  stillStands(token: TokenFacts): Promise<boolean>;
}

export function createIntrospectionPolicy(services: { clients: ClientService; accounts: AccountService; sessions: SessionService }): IntrospectionPolicy {
  const { clients, accounts, sessions } = services;
  return {
    async mayIntrospect(caller, token) {
      if (token.clientId === caller.clientId) return true;
      if (caller.clientAuthMethod === 'none') return false;
      const audiences = audiencesOf(token.aud);
      if (audiences.includes(caller.clientId)) return true;
      const access = await clients.accessOf(caller.clientId);
      return access !== undefined && mayIntrospectAudiences(access, audiences);
    },
    async stillStands(token) {
      if ((await clients.accessOf(token.clientId)) === undefined) return false;
      // A token without iat cannot be placed against a cutoff: it does not stand.
      if (await sessions.isCutOff({ accountId: token.accountId, clientId: token.clientId, issuedAt: token.issuedAt ?? 0, stored: token.stored === true })) return false;
      if (token.accountId === undefined) return true;
      const account = await accounts.findById(token.accountId);
      return account !== undefined && !account.disabled;
    },
  };
}

/**
 * RFC 7009 §2.1: the server "verifies whether the token was issued to the
 * client making the revocation request"; if not, a confidential client is
 * told (`invalid_request`) and a public client's request is ignored, as the
 * library's default revocationAllowedPolicy does (lib/helpers/defaults.js:209-225).
 */
export function revocationDecision(caller: Caller, tokenClientId: string): 'revoke' | 'ignore' | 'refuse' {
  if (tokenClientId === caller.clientId) return 'revoke';
  return caller.clientAuthMethod === 'none' ? 'ignore' : 'refuse';
}

export const notYourToken = 'client is not authorized to revoke the presented token';
