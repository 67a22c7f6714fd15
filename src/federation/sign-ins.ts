/**
 * A sign-in through an upstream: `begin` sends the browser there with fresh
 * state, nonce and PKCE verifier (sealed, keyed by the state's hash);
 * `complete` takes that row once (a replayed state finds nothing), has the
 * relying-party client check the answer, and decides by the upstream's
 * linking policy which local account it is. The upstream identity is the pair
 * (issuer, subject), never an email alone: an email links only under
 * `link-by-verified-email-when-trusted`, only when both sides call it
 * verified. Local rules still hold: a disabled or locked account is refused.
 */
import { randomBytes } from 'node:crypto';

import type { Account, AccountService } from '../accounts/accounts.js';
import { recordAs, system, type Audit, type EventOrigin } from '../audit/events.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { sha256 } from '../crypto/digest.js';
import type { Db } from '../db/index.js';
import { createAttemptStore } from './attempt-store.js';
import { mapClaims, upstreamDidMfa, usernameCandidates, type MappedIdentity } from './claims.js';
import { createLinkStore } from './store.js';
import type { UpstreamClient } from './upstream-client.js';
import type { Upstream, UpstreamService } from './upstreams.js';

export type FederatedOutcome =
  | { kind: 'signed-in'; accountId: string; upstream: Upstream; amr: string[]; upstreamMfa: boolean }
  /** `link-after-sign-in`: the user signs in with the password now; the link is made when that completes. */
  | { kind: 'link-required'; upstream: Upstream }
  | { kind: 'refused'; reason: 'unknown_user' | 'disabled' | 'email_taken' | 'upstream_disabled'; upstream: Upstream }
  | { kind: 'locked'; retryAfterSeconds: number; upstream: Upstream }
  /** The answer failed a check (state, iss, nonce, audience, signature …) or the upstream could not be reached. */
  | { kind: 'failed'; reason: string };

export interface FederatedSignIns {
  /** The URL to send the browser to; undefined when no enabled upstream has that id or name. */
  begin(upstreamIdOrName: string, interaction: { uid: string; expiresAt: Date }, origin?: EventOrigin): Promise<URL | undefined>;
  /** The interaction a callback's state belongs to, without using the state up. */
  interactionOf(state: string): Promise<string | undefined>;
  complete(interactionUid: string, callback: URLSearchParams, origin: EventOrigin & { expiresAt: Date }): Promise<FederatedOutcome>;
  /** The upstream this interaction waits to link (`link-after-sign-in`), for the page to say so. */
  pendingLink(interactionUid: string): Promise<Upstream | undefined>;
  /** A password sign-in completed: makes the link the interaction was waiting with, if any. */
  linkPending(interactionUid: string, accountId: string, origin?: EventOrigin): Promise<void>;
  /**
   * The account page (signed in as `accountId`) links another upstream: the URL to send the browser to.
   * The upstream returns to /federation/callback, which bounces to `accountLinkReturnPath` with the same query.
   */
  beginAccountLink(accountId: string, upstreamIdOrName: string, expiresAt: Date): Promise<URL | undefined>;
  /** The account page's return: checks the answer as a sign-in would and links the identity to `accountId`. */
  completeAccountLink(accountId: string, callback: URLSearchParams): Promise<AccountLinkOutcome>;
}

export type AccountLinkOutcome =
  | { kind: 'linked'; upstream: Upstream }
  /** This identity is already linked: to this account (`mine`) or to another one (never moved). */
  | { kind: 'already-linked'; mine: boolean; upstream: Upstream }
  | { kind: 'failed'; reason: string };

/** Where /federation/callback sends the browser back to for a link made from the account page. */
export const accountLinkReturnPath = '/account/links/return';
const accountLinkPrefix = 'account-link:';
/** An attempt's interaction uid stands for the account page when it starts so (interaction uids never do). */
export const isAccountLink = (uid: string) => uid.startsWith(accountLinkPrefix);

interface SealedChecks {
  uid: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

const random = () => randomBytes(32).toString('base64url');

export function createFederatedSignIns(deps: {
  db: Db;
  secrets: SecretBox;
  audit: Audit;
  accounts: AccountService;
  upstreams: UpstreamService;
  client: UpstreamClient;
  redirectUri: string;
  /** Records the upstream session a sign-in came from, for its back-channel logout (src/federation/logout.ts). */
  rememberUpstreamSession?: (issuer: string, sid: string, accountId: string) => Promise<void>;
  /** Keeps what ending the upstream session at RP-initiated logout needs (src/federation/session-end.ts). */
  rememberSignIn?: (uid: string, signIn: { upstreamId: string; subject: string; idToken: string | undefined }, ttlSeconds: number) => Promise<void>;
}): FederatedSignIns {
  const { secrets, audit, accounts, upstreams, client, redirectUri } = deps;
  const attempts = createAttemptStore(deps.db);
  const links = createLinkStore(deps.db);
  const stateKey = (state: string) => sha256(`federation-state:${state}`);
  const interactionKey = (uid: string) => sha256(`federation-interaction:${uid}`);

  const failure = (origin: EventOrigin, upstream: Upstream | undefined, reason: string, extra: Record<string, unknown> = {}) =>
    audit.record({ type: 'login.failure', outcome: 'failure', clientId: origin.clientId, detail: { factor: 'upstream', upstream: upstream?.name, issuer: upstream?.issuer, reason, ...extra } });

  /** The account an unlinked identity becomes, or why not. */
  async function unlinked(upstream: Upstream, identity: MappedIdentity, uid: string, origin: EventOrigin & { expiresAt: Date }): Promise<Account | FederatedOutcome> {
    if (upstream.linking === 'refuse') return { kind: 'refused', reason: 'unknown_user', upstream };
    if (upstream.linking === 'link-after-sign-in') {
      await attempts.putPendingLink(interactionKey(uid), { issuer: upstream.issuer, subject: identity.subject, upstream_id: upstream.id, expiresAt: origin.expiresAt });
      return { kind: 'link-required', upstream };
    }
    if (upstream.linking === 'link-by-verified-email-when-trusted' && identity.email && identity.emailVerified) {
      const account = await accounts.find(identity.email);
      // Both sides must call the address verified: a local account's unverified email proves nothing either.
      if (account && account.email?.toLowerCase() === identity.email.toLowerCase() && account.emailVerified) return account;
    }
    // Just in time (also `link-by-verified-email-when-trusted` when no account has the verified address).
    if (identity.email && (await accounts.find(identity.email))) return { kind: 'refused', reason: 'email_taken', upstream };
    for (const username of usernameCandidates(upstream.name, identity)) {
      if (await accounts.find(username)) continue;
      return accounts.createWithoutPassword(system, {
        username,
        ...(identity.email ? { email: identity.email, emailVerified: identity.emailVerified } : {}),
        ...(identity.name ? { name: identity.name } : {}),
      }, { via: 'federation', upstream: upstream.name });
    }
    return { kind: 'failed', reason: 'no_username' };
  }

  async function link(upstream: Upstream, subject: string, accountId: string, groups: string[], origin: EventOrigin, how: string): Promise<boolean> {
    const made = await links.insert({ issuer: upstream.issuer, subject, accountId, upstreamId: upstream.id, groups });
    if (made) audit.record({ type: 'federation.linked', outcome: 'success', actor: accountId, subject: accountId, clientId: origin.clientId, detail: { upstream: upstream.name, issuer: upstream.issuer, how } });
    return made;
  }

  return {
    async begin(upstreamIdOrName, interaction, origin = {}) {
      const upstream = await upstreams.find(upstreamIdOrName);
      if (!upstream?.enabled) return undefined;
      const target = (await upstreams.target(upstream.id))!.target;
      const checks: SealedChecks = { uid: interaction.uid, state: random(), nonce: random(), codeVerifier: random() };
      const url = await client.authorizationUrl(target, checks, redirectUri);
      await attempts.insert(stateKey(checks.state), {
        interaction_hash: interactionKey(interaction.uid),
        upstream_id: upstream.id,
        checks_ciphertext: secrets.seal('federation-attempt', upstream.id, JSON.stringify(checks)),
        expiresAt: interaction.expiresAt,
      });
      audit.record({ type: 'federation.started', outcome: 'success', clientId: origin.clientId, detail: { upstream: upstream.name, issuer: upstream.issuer } });
      return url;
    },

    async interactionOf(state) {
      const row = await attempts.peek(stateKey(state));
      if (!row) return undefined;
      return (JSON.parse(secrets.open('federation-attempt', row.upstream_id, row.checks_ciphertext)) as SealedChecks).uid;
    },

    async complete(uid, callback, origin) {
      const state = callback.get('state');
      const row = state ? await attempts.take(stateKey(state), interactionKey(uid)) : undefined;
      if (!row) {
        failure(origin, undefined, 'unknown_state');
        return { kind: 'failed', reason: 'unknown_state' };
      }
      const checks = JSON.parse(secrets.open('federation-attempt', row.upstream_id, row.checks_ciphertext)) as SealedChecks;
      const found = await upstreams.target(row.upstream_id);
      if (!found || checks.uid !== uid) return { kind: 'failed', reason: 'unknown_state' };
      const { upstream, target } = found;
      if (!upstream.enabled) {
        failure(origin, upstream, 'upstream_disabled');
        return { kind: 'refused', reason: 'upstream_disabled', upstream };
      }
      const callbackUrl = new URL(redirectUri);
      callbackUrl.search = callback.toString();
      let identity: MappedIdentity;
      let upstreamMfa: boolean;
      let upstreamSid: string | undefined;
      let idToken: string | undefined;
      try {
        const answer = await client.redeem(target, callbackUrl, checks);
        identity = mapClaims(answer.claims, upstream.claims);
        upstreamSid = answer.sid;
        idToken = answer.idToken;
        upstreamMfa = upstream.secondFactor === 'trust-upstream' && upstreamDidMfa(answer.amr);
      } catch (error) {
        // openid-client's codes name the check (OAUTH_JWT_CLAIM_COMPARISON_FAILED, …); no secret is in them.
        const code = (error as { code?: unknown; error?: unknown }).error ?? (error as { code?: unknown }).code;
        failure(origin, upstream, 'upstream_response_rejected', { code: typeof code === 'string' ? code : 'error', message: error instanceof Error ? error.message.slice(0, 200) : undefined });
        return { kind: 'failed', reason: 'upstream_response_rejected' };
      }

      const existing = await links.find(upstream.issuer, identity.subject);
      let account: Account | undefined;
      if (existing) {
        account = await accounts.findById(existing.account_id);
        await links.touch(upstream.issuer, identity.subject, identity.groups);
      } else {
        const result = await unlinked(upstream, identity, uid, origin);
        if ('kind' in result) {
          if (result.kind !== 'link-required') failure(origin, upstream, result.kind === 'refused' ? result.reason : result.kind);
          return result;
        }
        account = result;
        await link(upstream, identity.subject, account.id, identity.groups, origin, upstream.linking);
      }
      if (!account || account.disabled) {
        failure(origin, upstream, 'disabled', { account: account?.id });
        return { kind: 'refused', reason: 'disabled', upstream };
      }
      const lock = await accounts.lockoutStatus(account.id);
      if (lock.locked) {
        failure(origin, upstream, 'locked', { account: account.id });
        const retryAfterSeconds = Math.max(1, Math.ceil(((lock.resetsAt?.getTime() ?? Date.now()) - Date.now()) / 1000));
        return { kind: 'locked', retryAfterSeconds, upstream };
      }
      if (upstreamSid && upstreamSid.length <= 255 && deps.rememberUpstreamSession) await deps.rememberUpstreamSession(upstream.issuer, upstreamSid, account.id);
      if (upstream.protocol === 'oidc' && deps.rememberSignIn) {
        await deps.rememberSignIn(uid, { upstreamId: upstream.id, subject: identity.subject, idToken }, Math.max(60, Math.ceil((origin.expiresAt.getTime() - Date.now()) / 1000)));
      }
      audit.record({ type: 'federation.signed_in', outcome: 'success', actor: account.id, subject: account.id, clientId: origin.clientId, detail: { upstream: upstream.name, issuer: upstream.issuer, upstreamMfa } });
      return { kind: 'signed-in', accountId: account.id, upstream, amr: upstreamMfa ? ['fed', 'mfa'] : ['fed'], upstreamMfa };
    },

    async beginAccountLink(accountId, upstreamIdOrName, expiresAt) {
      const upstream = await upstreams.find(upstreamIdOrName);
      if (!upstream?.enabled) return undefined;
      const uid = `${accountLinkPrefix}${accountId}`;
      const target = (await upstreams.target(upstream.id))!.target;
      const checks: SealedChecks = { uid, state: random(), nonce: random(), codeVerifier: random() };
      const url = await client.authorizationUrl(target, checks, redirectUri);
      await attempts.insert(stateKey(checks.state), { interaction_hash: interactionKey(uid), upstream_id: upstream.id, checks_ciphertext: secrets.seal('federation-attempt', upstream.id, JSON.stringify(checks)), expiresAt });
      recordAs(audit, { kind: 'user', userId: accountId }, { type: 'federation.link_started', subject: accountId, detail: { upstream: upstream.name, issuer: upstream.issuer } });
      return url;
    },

    async completeAccountLink(accountId, callback) {
      const uid = `${accountLinkPrefix}${accountId}`;
      const state = callback.get('state');
      // The state is bound to this account: another account's return (or a replay) finds nothing.
      const row = state ? await attempts.take(stateKey(state), interactionKey(uid)) : undefined;
      if (!row) return { kind: 'failed', reason: 'unknown_state' };
      const checks = JSON.parse(secrets.open('federation-attempt', row.upstream_id, row.checks_ciphertext)) as SealedChecks;
      const found = await upstreams.target(row.upstream_id);
      if (!found || checks.uid !== uid || !found.upstream.enabled) return { kind: 'failed', reason: 'unknown_state' };
      const { upstream, target } = found;
      const callbackUrl = new URL(redirectUri);
      callbackUrl.search = callback.toString();
      let identity: MappedIdentity;
      try {
        identity = mapClaims((await client.redeem(target, callbackUrl, checks)).claims, upstream.claims);
      } catch {
        failure({}, upstream, 'upstream_response_rejected', { account: accountId });
        return { kind: 'failed', reason: 'upstream_response_rejected' };
      }
      const existing = await links.find(upstream.issuer, identity.subject);
      if (existing) return { kind: 'already-linked', mine: existing.account_id === accountId, upstream };
      if (!(await link(upstream, identity.subject, accountId, identity.groups, {}, 'account-page'))) return { kind: 'already-linked', mine: false, upstream };
      return { kind: 'linked', upstream };
    },

    async pendingLink(uid) {
      const row = await attempts.findPendingLink(interactionKey(uid));
      return row ? upstreams.find(row.upstream_id) : undefined;
    },

    async linkPending(uid, accountId, origin = {}) {
      const row = await attempts.takePendingLink(interactionKey(uid));
      if (!row) return;
      const upstream = await upstreams.find(row.upstream_id);
      if (upstream) await link(upstream, row.subject, accountId, [], origin, 'link-after-sign-in');
    },
  };
}
