/**
 * The SQL of the sessions service: the library's Session and Grant rows in
 * oidc_models (read by account, deleted by session uid or grant), the token
 * cutoffs, and the back-channel logout queue.
 */
import { sha256 } from '../crypto/digest.js';
import type { Db, Queryable } from '../db/index.js';

const live = '(expires_at IS NULL OR expires_at > now())';

/** What the library stores for a session (lib/models/session.js IN_PAYLOAD). */
export interface SessionPayload {
  uid?: string;
  accountId?: string;
  loginTs?: number;
  acr?: string;
  amr?: string[];
  iat?: number;
  authorizations?: Record<string, { sid?: string; grantId?: string; persistsLogout?: boolean }>;
}

export interface SessionRow {
  payload: SessionPayload;
  expires_at: Date | null;
}

export interface GrantRow {
  grant_id: string;
  payload: { accountId?: string; clientId?: string; openid?: { scope?: string }; resources?: Record<string, string>; iat?: number };
  expires_at: Date | null;
}

export interface LogoutRow {
  id: string;
  client_id: string;
  account_id: string;
  sid: string | null;
  reason: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface LogoutTarget {
  clientId: string;
  accountId: string;
  sid: string | null;
}

export function createSessionStore(db: Db) {
  return {
    /** Signed-in sessions that have not expired (the library also stores sessions before anyone signs in). */
    async countSignedIn(): Promise<number> {
      const { rows } = await db.query<{ n: number | string }>(`SELECT count(*) AS n FROM oidc_models WHERE model = 'Session' AND payload ? 'accountId' AND ${live}`);
      return Number(rows[0]!.n);
    },
    async sessionsOf(accountId: string): Promise<SessionRow[]> {
      const { rows } = await db.query<SessionRow>(
        `SELECT payload, expires_at FROM oidc_models WHERE model = 'Session' AND payload->>'accountId' = $1 AND ${live} ORDER BY payload->>'loginTs' DESC`,
        [accountId],
      );
      return rows;
    },

    async grantsOf(accountId: string): Promise<GrantRow[]> {
      const { rows } = await db.query<GrantRow>(
        `SELECT grant_id, payload, expires_at FROM oidc_models WHERE model = 'Grant' AND payload->>'accountId' = $1 AND grant_id IS NOT NULL AND ${live}
          ORDER BY payload->>'iat' DESC, grant_id`,
        [accountId],
      );
      return rows;
    },

    /** Deletes one session by its uid (stored hashed as well), only if it is the account's. */
    async deleteSession(tx: Queryable, accountId: string, uid: string): Promise<SessionPayload | undefined> {
      const { rows } = await tx.query<{ payload: SessionPayload }>(
        `DELETE FROM oidc_models WHERE model = 'Session' AND session_uid_hash = $1 AND payload->>'accountId' = $2 RETURNING payload`,
        [sha256(uid), accountId],
      );
      return rows[0]?.payload;
    },

    async deleteSessionsOf(tx: Queryable, accountId: string): Promise<SessionPayload[]> {
      const { rows } = await tx.query<{ payload: SessionPayload }>(
        `DELETE FROM oidc_models WHERE model = 'Session' AND payload->>'accountId' = $1 RETURNING payload`,
        [accountId],
      );
      return rows.map((r) => r.payload);
    },

    /** A grant and every token and code issued under it; returns its client when it was the account's. */
    async deleteGrant(tx: Queryable, accountId: string, grantId: string): Promise<string | undefined> {
      const { rows } = await tx.query<{ client_id: string }>(
        `DELETE FROM oidc_models WHERE model = 'Grant' AND grant_id = $1 AND payload->>'accountId' = $2 RETURNING payload->>'clientId' AS client_id`,
        [grantId, accountId],
      );
      if (!rows[0]) return undefined;
      await tx.query('DELETE FROM oidc_models WHERE grant_id = $1', [grantId]);
      return rows[0].client_id;
    },

    /** Every grant, token and code of an account (sign out everywhere); returns how many grants went, and their clients. */
    async deleteArtifactsOf(tx: Queryable, accountId: string): Promise<{ grants: number; clients: string[] }> {
      const { rows } = await tx.query<{ client_id: string; grant_id: string }>(
        `DELETE FROM oidc_models WHERE model = 'Grant' AND payload->>'accountId' = $1 RETURNING payload->>'clientId' AS client_id, grant_id`,
        [accountId],
      );
      const grants = rows.map((r) => r.grant_id).filter(Boolean);
      if (grants.length) await tx.query('DELETE FROM oidc_models WHERE grant_id = ANY($1::text[])', [grants]);
      // Tokens the library stored outside a grant (none today) go too: nothing of the account survives.
      await tx.query(
        `DELETE FROM oidc_models WHERE payload->>'accountId' = $1 AND model IN ('AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'BackchannelAuthenticationRequest')`,
        [accountId],
      );
      return { grants: rows.length, clients: [...new Set(rows.map((r) => r.client_id))] };
    },

    /** Every grant, token and code of a client (disabled or deleted). */
    async deleteArtifactsOfClient(tx: Queryable, clientId: string): Promise<number> {
      const { rows } = await tx.query<{ grant_id: string | null }>(
        `DELETE FROM oidc_models WHERE payload ? 'clientId' AND payload->>'clientId' = $1 AND model <> 'Session' AND model <> 'Interaction' RETURNING grant_id`,
        [clientId],
      );
      const grants = [...new Set(rows.map((r) => r.grant_id).filter((g): g is string => g !== null))];
      if (grants.length) await tx.query('DELETE FROM oidc_models WHERE grant_id = ANY($1::text[])', [grants]);
      return rows.length;
    },

    async setCutoff(tx: Queryable, accountId: string, clientId: string, notBefore: Date): Promise<void> {
      await tx.query(
        `INSERT INTO token_cutoffs (account_id, client_id, not_before) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, client_id) DO UPDATE SET not_before = GREATEST(token_cutoffs.not_before, EXCLUDED.not_before)`,
        [accountId, clientId, notBefore],
      );
    },

    async cutoffOf(accountId: string, clientId: string): Promise<Date | undefined> {
      const { rows } = await db.query<{ not_before: Date }>('SELECT not_before FROM token_cutoffs WHERE account_id = $1 AND client_id = $2', [accountId, clientId]);
      return rows[0]?.not_before;
    },

    /** The account's own cutoff (client '') and those of its revoked grants (per client). */
    async cutoffsOfAccount(accountId: string): Promise<Array<{ client_id: string; not_before: Date }>> {
      const { rows } = await db.query<{ client_id: string; not_before: Date }>('SELECT client_id, not_before FROM token_cutoffs WHERE account_id = $1', [accountId]);
      return rows;
    },

    /** Which of these clients registered a back-channel logout URI, and whether they require a sid. */
    async logoutClients(tx: Queryable, clientIds: string[]): Promise<Map<string, { sessionRequired: boolean }>> {
      if (clientIds.length === 0) return new Map();
      const { rows } = await tx.query<{ client_id: string; session_required: boolean | null }>(
        `SELECT client_id, (metadata->>'backchannel_logout_session_required')::boolean AS session_required FROM clients
          WHERE client_id = ANY($1::text[]) AND NOT disabled AND coalesce(metadata->>'backchannel_logout_uri', '') <> ''`,
        [clientIds],
      );
      return new Map(rows.map((r) => [r.client_id, { sessionRequired: r.session_required === true }]));
    },

    async enqueue(tx: Queryable, targets: LogoutTarget[], reason: string): Promise<void> {
      for (const t of targets) {
        await tx.query('INSERT INTO backchannel_logouts (client_id, account_id, sid, reason) VALUES ($1, $2, $3, $4)', [t.clientId, t.accountId, t.sid, reason]);
      }
    },

    /**
     * Claims up to `limit` due deliveries for this node: each is pushed `leaseSeconds` into the
     * future, so a node that dies mid-delivery leaves it to another after the lease (at least once).
     * SKIP LOCKED: two nodes never claim the same row.
     */
    async claimDue(limit: number, leaseSeconds: number): Promise<LogoutRow[]> {
      const { rows } = await db.query<LogoutRow>(
        `UPDATE backchannel_logouts SET next_attempt_at = now() + make_interval(secs => $2::integer), attempts = attempts + 1, updated_at = now()
          WHERE id IN (SELECT id FROM backchannel_logouts WHERE state = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING id::text AS id, client_id, account_id, sid, reason, state, attempts, last_error, created_at, updated_at`,
        [limit, leaseSeconds],
      );
      return rows;
    },

    async markDelivered(id: string): Promise<void> {
      await db.query("UPDATE backchannel_logouts SET state = 'delivered', last_error = NULL, updated_at = now() WHERE id = $1", [id]);
    },

    async markFailed(id: string, error: string, retryInSeconds: number | undefined): Promise<void> {
      await db.query(
        `UPDATE backchannel_logouts SET last_error = $2, updated_at = now(),
           state = CASE WHEN $3::integer IS NULL THEN 'failed' ELSE 'pending' END,
           next_attempt_at = CASE WHEN $3::integer IS NULL THEN next_attempt_at ELSE now() + make_interval(secs => $3::integer) END
         WHERE id = $1`,
        [id, error.slice(0, 500), retryInSeconds ?? null],
      );
    },

    async logoutsOf(accountId: string): Promise<LogoutRow[]> {
      const { rows } = await db.query<LogoutRow>(
        `SELECT id::text AS id, client_id, account_id, sid, reason, state, attempts, last_error, created_at, updated_at
           FROM backchannel_logouts WHERE account_id = $1 ORDER BY id`,
        [accountId],
      );
      return rows;
    },

    /** Forgets delivered and failed entries older than `days`. */
    async deleteSettled(olderThanSeconds: number): Promise<number> {
      const { rowCount } = await db.query(
        "DELETE FROM backchannel_logouts WHERE state <> 'pending' AND updated_at < now() - make_interval(secs => $1::integer)",
        [olderThanSeconds],
      );
      return rowCount;
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
