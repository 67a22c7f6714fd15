/**
 * Back-channel logout from an upstream (OpenID Connect Back-Channel Logout
 * 1.0): the upstream POSTs a logout token to /federation/backchannel-logout
 * when the user signs out there, and the Gatehouse sessions of the linked
 * account end through src/sessions (which in turn tells Gatehouse's own
 * relying parties). The token is checked as §2.6 says: signed by the
 * upstream's keys (its discovery's jwks_uri), `iss` an upstream's issuer,
 * `aud` that upstream's client id, `iat` recent, `jti` used once, the
 * back-channel logout event present, no `nonce`, and `sub` or `sid`. A `sid`
 * alone is matched through the upstream session ids recorded at sign-in.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';

import { recordAs, type Audit } from '../audit/events.js';
import type { Db } from '../db/index.js';
import type { ReplayService } from '../replay/replay.js';
import type { SessionService } from '../sessions/sessions.js';
import { createLinkStore } from './store.js';
import type { UpstreamClient } from './upstream-client.js';
import type { UpstreamService } from './upstreams.js';

const logoutEvent = 'http://schemas.openid.net/event/backchannel-logout';
/** How old a logout token may be (its `iat`), and the window its `jti` is remembered for. */
const maxAgeSeconds = 120;
const signingAlgorithms = ['RS256', 'PS256', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS384', 'RS512', 'PS384', 'PS512'];

export type UpstreamLogoutResult = { ok: true; accounts: number; sessions: number } | { ok: false; reason: string };

export interface UpstreamLogout {
  /** Checks a logout token and ends the Gatehouse sessions of the account(s) it names. */
  receive(logoutToken: string): Promise<UpstreamLogoutResult>;
  /** Records the upstream session a sign-in came from (its ID token's `sid`). */
  remember(issuer: string, sid: string, accountId: string, expiresAt: Date): Promise<void>;
}

export function createUpstreamLogout(deps: { db: Db; audit: Audit; upstreams: UpstreamService; client: UpstreamClient; sessions: Pick<SessionService, 'signOutEverywhere'>; replay: ReplayService }): UpstreamLogout {
  const { db, audit, upstreams, client, sessions, replay } = deps;
  const links = createLinkStore(db);
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  const refuse = (reason: string, detail: Record<string, unknown> = {}): UpstreamLogoutResult => {
    audit.record({ type: 'federation.logout_refused', outcome: 'failure', detail: { reason, ...detail } });
    return { ok: false, reason };
  };

  return {
    async remember(issuer, sid, accountId, expiresAt) {
      await db.query(
        `INSERT INTO federation_upstream_sessions (issuer, sid, account_id, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (issuer, sid) DO UPDATE SET account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`,
        [issuer, sid, accountId, expiresAt],
      );
      await db.query('DELETE FROM federation_upstream_sessions WHERE expires_at <= now()');
    },

    async receive(logoutToken) {
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(logoutToken);
      } catch {
        return refuse('malformed');
      }
      const audiences = typeof unverified.aud === 'string' ? [unverified.aud] : Array.isArray(unverified.aud) ? unverified.aud : [];
      const candidates = (await upstreams.list()).filter((u) => u.enabled && u.protocol === 'oidc' && u.issuer === unverified.iss && audiences.includes(u.clientId));
      const upstream = candidates[0];
      if (!upstream) return refuse('unknown_issuer');
      const found = await upstreams.target(upstream.id);
      if (!found) return refuse('unknown_issuer');
      let payload: JWTPayload;
      try {
        const jwksUri = await client.jwksUri(found.target);
        if (!jwksUri) return refuse('no_jwks', { upstream: upstream.name });
        let keys = keySets.get(jwksUri);
        if (!keys) keySets.set(jwksUri, (keys = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 10_000 })));
        const verified = await jwtVerify(logoutToken, keys, { issuer: upstream.issuer, audience: upstream.clientId, algorithms: signingAlgorithms, maxTokenAge: maxAgeSeconds, requiredClaims: ['iat', 'jti'] });
        // §2.4: typ `logout+jwt` is recommended; any other explicit type (an ID token's `JWT` aside) is refused.
        const typ = verified.protectedHeader.typ?.toLowerCase();
        if (typ !== undefined && typ !== 'logout+jwt' && typ !== 'application/logout+jwt' && typ !== 'jwt') return refuse('wrong_type', { upstream: upstream.name });
        payload = verified.payload;
      } catch (error) {
        return refuse('invalid_token', { upstream: upstream.name, code: (error as { code?: string }).code });
      }
      const events = payload.events as Record<string, unknown> | undefined;
      if (!events || typeof events !== 'object' || typeof events[logoutEvent] !== 'object' || events[logoutEvent] === null) return refuse('no_logout_event', { upstream: upstream.name });
      if ('nonce' in payload) return refuse('nonce_present', { upstream: upstream.name });
      const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
      const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
      if (!sub && !sid) return refuse('no_subject', { upstream: upstream.name });
      if (!(await replay.firstUse(`logout:${upstream.issuer}`, String(payload.jti), maxAgeSeconds * 2))) return refuse('replayed', { upstream: upstream.name });

      const accounts = new Set<string>();
      if (sub) {
        const link = await links.find(upstream.issuer, sub);
        if (link) accounts.add(link.account_id);
      }
      if (sid) {
        const { rows } = await db.query<{ account_id: string }>('DELETE FROM federation_upstream_sessions WHERE issuer = $1 AND sid = $2 RETURNING account_id', [upstream.issuer, sid]);
        // With both, the sid must belong to the sub's account: a token cannot end someone else's sessions by sid.
        for (const row of rows) if (!sub || accounts.has(row.account_id)) accounts.add(row.account_id);
      }
      let ended = 0;
      for (const accountId of accounts) ended += (await sessions.signOutEverywhere({ kind: 'system' }, accountId, 'upstream_logout')).sessions;
      recordAs(audit, { kind: 'system' }, { type: 'federation.logged_out', subject: [...accounts][0], detail: { upstream: upstream.name, issuer: upstream.issuer, accounts: accounts.size, sessions: ended, by: sub ? 'sub' : 'sid' } });
      return { ok: true, accounts: accounts.size, sessions: ended };
    },
  };
}
