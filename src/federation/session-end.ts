/**
 * RP-initiated logout that also ends the upstream session (issue 20 item 5).
 * When a relying party sends the user to Gatehouse's end_session endpoint and
 * the user signs out of Gatehouse, and the sign-in of that Gatehouse session
 * came through an upstream whose operator set `--end-upstream-session`, the
 * browser goes on to the upstream's end_session_endpoint (OpenID Connect
 * RP-Initiated Logout 1.0 §2) with the upstream's own ID token as
 * `id_token_hint` and Gatehouse's `/federation/logout-return` as
 * `post_logout_redirect_uri`; from there it continues to where Gatehouse's
 * logout was going (the relying party's post_logout_redirect_uri with its
 * `state`, or Gatehouse's signed-out page).
 *
 * Three short-lived records, kept with the library's artifacts (oidc_models,
 * keyed by the SHA-256 of their id and swept by the cleanup job):
 *   - `FederatedSignIn`, by interaction uid: the upstream and its ID token
 *     (sealed under the master secret), from the upstream's answer until the
 *     interaction's Gatehouse session exists;
 *   - `FederatedSession`, by Gatehouse session uid: the same, for as long as
 *     the session may last;
 *   - `UpstreamLogoutReturn`, by a random state: where the browser continues,
 *     used once.
 * A sealed ID token that no longer opens (the master secret was rotated since
 * the sign-in) gives way to `client_id` + `logout_hint` (§2: the upstream
 * subject), which names the user without proving the session.
 */
import { randomBytes } from 'node:crypto';

import type { ArtifactStore } from '../artifacts/store.js';
import type { Audit } from '../audit/events.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { UpstreamClient } from './upstream-client.js';
import type { UpstreamService } from './upstreams.js';

/** The one path upstreams send the browser back to after their logout (registered as a post-logout redirect URI there). */
export const logoutReturnPath = '/federation/logout-return';
/** How long the browser may take at the upstream's logout page. */
const returnTtlSeconds = 600;

interface FederatedRecord {
  upstreamId: string;
  subject: string;
  idTokenCiphertext?: string;
}

export interface UpstreamSessionEnd {
  /** An upstream sign-in succeeded in interaction `uid`: what ending its session needs, until the interaction finishes. */
  rememberSignIn(uid: string, signIn: { upstreamId: string; subject: string; idToken: string | undefined }, ttlSeconds: number): Promise<void>;
  /**
   * Interaction `uid` finished in Gatehouse session `sessionUid`: a sign-in through an upstream binds to it, any other
   * sign-in unbinds it (a password sign-in later in the same session does not end the upstream's).
   */
  bindSession(uid: string, sessionUid: string, federated: boolean, ttlSeconds: number): Promise<void>;
  /** The origin Gatehouse's logout form would lead on to for this session (its CSP form-action must allow it), if any. */
  logoutOrigin(sessionUid: string): Promise<string | undefined>;
  /**
   * Gatehouse session `sessionUid` ended by RP-initiated logout, on its way to `continueTo`: the upstream logout URL to
   * send the browser to instead, or undefined (not federated, the upstream's flag off, or it has no end_session_endpoint).
   */
  endSession(sessionUid: string, continueTo: string, accountId: string | undefined): Promise<URL | undefined>;
  /** The upstream's logout sent the browser back with `state`: where it continues, once; undefined for an unknown or used state. */
  returnFrom(state: string): Promise<string | undefined>;
}

export function createUpstreamSessionEnd(deps: { artifacts: ArtifactStore; secrets: SecretBox; audit: Audit; upstreams: UpstreamService; client: UpstreamClient; issuer: string }): UpstreamSessionEnd {
  const { artifacts, secrets, audit, upstreams, client } = deps;
  const returnUri = `${deps.issuer.replace(/\/$/, '')}${logoutReturnPath}`;

  function idTokenOf(record: FederatedRecord): string | undefined {
    if (!record.idTokenCiphertext) return undefined;
    try {
      return secrets.open('upstream-id-token', record.upstreamId, record.idTokenCiphertext);
    } catch {
      return undefined;
    }
  }

  return {
    async rememberSignIn(uid, signIn, ttlSeconds) {
      const record: FederatedRecord = {
        upstreamId: signIn.upstreamId,
        subject: signIn.subject,
        ...(signIn.idToken ? { idTokenCiphertext: secrets.seal('upstream-id-token', signIn.upstreamId, signIn.idToken) } : {}),
      };
      await artifacts.upsert('FederatedSignIn', uid, { ...record }, ttlSeconds);
    },

    async bindSession(uid, sessionUid, federated, ttlSeconds) {
      const signIn = await artifacts.find('FederatedSignIn', uid);
      if (signIn) await artifacts.destroy('FederatedSignIn', uid);
      if (federated && signIn) {
        const { jti: _jti, ...record } = signIn;
        await artifacts.upsert('FederatedSession', sessionUid, record, ttlSeconds);
      } else if (!federated) {
        await artifacts.destroy('FederatedSession', sessionUid);
      }
      // Federated without a record: the same login resumed again (a merged interaction result); the binding stands.
    },

    async logoutOrigin(sessionUid) {
      const stored = await artifacts.find('FederatedSession', sessionUid);
      if (!stored) return undefined;
      const found = await upstreams.target((stored as unknown as FederatedRecord).upstreamId);
      if (!found?.upstream.endUpstreamSession) return undefined;
      const endpoint = await client.endSessionEndpoint(found.target).catch(() => undefined);
      return endpoint ? new URL(endpoint).origin : undefined;
    },

    async endSession(sessionUid, continueTo, accountId) {
      const stored = await artifacts.find('FederatedSession', sessionUid);
      if (!stored) return undefined;
      await artifacts.destroy('FederatedSession', sessionUid);
      const record = stored as unknown as FederatedRecord;
      const found = await upstreams.target(record.upstreamId);
      if (!found?.upstream.endUpstreamSession) return undefined;
      const { upstream, target } = found;
      let endpoint: string | undefined;
      try {
        endpoint = await client.endSessionEndpoint(target);
      } catch {
        endpoint = undefined;
      }
      if (!endpoint) {
        audit.record({ type: 'federation.upstream_logout', outcome: 'failure', actor: accountId, subject: accountId, detail: { upstream: upstream.name, reason: 'no_end_session_endpoint' } });
        return undefined;
      }
      const state = randomBytes(32).toString('base64url');
      await artifacts.upsert('UpstreamLogoutReturn', state, { continueTo }, returnTtlSeconds);
      const url = new URL(endpoint);
      const idToken = idTokenOf(record);
      if (idToken) url.searchParams.set('id_token_hint', idToken);
      else {
        url.searchParams.set('client_id', upstream.clientId);
        url.searchParams.set('logout_hint', record.subject);
      }
      url.searchParams.set('post_logout_redirect_uri', returnUri);
      url.searchParams.set('state', state);
      audit.record({ type: 'federation.upstream_logout', outcome: 'success', actor: accountId, subject: accountId, detail: { upstream: upstream.name, issuer: upstream.issuer, hint: idToken ? 'id_token_hint' : 'logout_hint' } });
      return url;
    },

    async returnFrom(state) {
      const stored = await artifacts.find('UpstreamLogoutReturn', state);
      // Consumed atomically: of two requests with the same state, one continues.
      if (!stored || stored.consumed !== undefined || !(await artifacts.consume('UpstreamLogoutReturn', state)).consumed) return undefined;
      await artifacts.destroy('UpstreamLogoutReturn', state);
      return typeof stored.continueTo === 'string' ? stored.continueTo : undefined;
    },
  };
}
