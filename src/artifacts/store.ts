/**
 * Storage of oidc-provider's protocol artifacts (tokens, codes, sessions,
 * grants, interactions, replay records) in the oidc_models table.
 *
 * Rows are keyed by SHA-256 of the library's identifier, and the identifier
 * (`jti`) is removed from the stored payload: for opaque tokens, codes and
 * session ids the identifier *is* the credential, so a dump must not hold it.
 * The caller always has the identifier when it looks a row up, and puts it back.
 */
import type { Db, Queryable } from '../db/index.js';
import { sha256 } from '../crypto/digest.js';

export type ArtifactPayload = Record<string, unknown> & {
  jti?: string;
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
};

interface Row {
  payload: ArtifactPayload;
  consumed_at: Date | null;
}

const live = '(expires_at IS NULL OR expires_at > now())';

function restore(id: string, row: Row | undefined): ArtifactPayload | undefined {
  if (!row) return undefined;
  const payload: ArtifactPayload = { ...row.payload, jti: id };
  if (row.consumed_at) payload.consumed = Math.floor(row.consumed_at.getTime() / 1000);
  return payload;
}

interface Waiter {
  resolve: (payload: ArtifactPayload | undefined) => void;
  reject: (error: unknown) => void;
}

export interface ArtifactStore {
  /** The id of an account's newest live grant for a client: what the user last allowed it, in whichever session. */
  latestGrantId(accountId: string, clientId: string): Promise<string | undefined>;
  upsert(model: string, id: string, payload: ArtifactPayload, expiresInSeconds: number | undefined): Promise<void>;
  find(model: string, id: string): Promise<ArtifactPayload | undefined>;
  /** Sessions by their uid; the uid is itself only stored hashed. */
  findSessionByUid(uid: string): Promise<ArtifactPayload | undefined>;
  findByUserCode(model: string, userCode: string): Promise<ArtifactPayload | undefined>;
  /**
  * Marks a row consumed if, and only if, nobody consumed it first. Returns the
  * row's grant id when it was already consumed, so the caller can treat the
  * second use as a replay (RFC 6749 §4.1.2: revoke what the code issued).
  */
  consume(model: string, id: string): Promise<{
    consumed: true;
  } | {
    consumed: false;
    grantId: string | null;
  }>;
  destroy(model: string, id: string): Promise<void>;
  /** Removes every token, code and the grant itself: what a replay or a revocation must kill. */
  revokeGrant(grantId: string, executor?: Queryable): Promise<number>;
  revokeByGrantId(model: string, grantId: string): Promise<void>;
  /** Deletes one batch of expired rows; returns how many went. */
  deleteExpired(batchSize: number): Promise<number>;
}

export function createArtifactStore(db: Db): ArtifactStore {
  /**
   * Lookups of one identifier made in the same tick share one query. The
   * library looks a presented token up as every kind it could be at once
   * (introspection: access token, client-credentials token and refresh token
   * in parallel); that was three queries per request, now one.
   */
  const waiting = new Map<string, Map<string, Waiter[]>>();

  async function lookUp(id: string, models: Map<string, Waiter[]>): Promise<void> {
    try {
      const { rows } = await db.query<Row & { model: string }>(
        `SELECT model, payload, consumed_at FROM oidc_models WHERE model = ANY($1::text[]) AND id_hash = $2 AND ${live}`,
        [[...models.keys()], sha256(id)],
      );
      for (const [model, waiters] of models) {
        const row = rows.find((r) => r.model === model);
        for (const waiter of waiters) waiter.resolve(restore(id, row));
      }
    } catch (error) {
      for (const waiters of models.values()) for (const waiter of waiters) waiter.reject(error);
    }
  }

  /**
   * The library looks a device code up by its user code and saves it again
   * (lib/actions/code_verification.js, then device_resume). The row holds only
   * the device code's digest, so the code comes back without its id and the
   * library saves it under a fresh one: an alias of the same authorization.
   * The alias is marked consumed at once (its id, which the library keeps in
   * the interaction, can never be redeemed at /token), and every save of
   * either row is copied to the other, so the device polling with the
   * original id sees the approval.
   */
  async function deviceCodeAliases(id: string, payload: string, alias: boolean): Promise<void> {
    if (alias) await db.query("UPDATE oidc_models SET consumed_at = now() WHERE model = 'DeviceCode' AND id_hash = $1", [sha256(id)]);
    await db.query(
      `UPDATE oidc_models SET payload = $2::jsonb
       WHERE model = 'DeviceCode' AND id_hash <> $1
         AND user_code_hash = (SELECT user_code_hash FROM oidc_models WHERE model = 'DeviceCode' AND id_hash = $1)`,
      [sha256(id), payload],
    );
  }

  return {
    async upsert(model: string, id: string, payload: ArtifactPayload, expiresInSeconds: number | undefined): Promise<void> {
      // A user code is a credential (RFC 8628 §5.1) typed by a person: only its digest is kept (DESIGN invariant 1).
      const { jti: _jti, consumed: _consumed, userCode: _userCode, ...stored } = payload;
      const userCodeHash = payload.userCode ? sha256(payload.userCode) : null;
      // See deviceCodeAliases below: a device code found by its user code comes back without its id.
      const alias = model === 'DeviceCode' && userCodeHash !== null
        && (await db.query('SELECT 1 FROM oidc_models WHERE model = $1 AND user_code_hash = $2 AND id_hash <> $3', [model, userCodeHash, sha256(id)])).rows.length > 0;
      await db.query(
        `INSERT INTO oidc_models (model, id_hash, payload, grant_id, session_uid_hash, user_code_hash, expires_at)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, CASE WHEN $7::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $7::integer) END)
         ON CONFLICT (model, id_hash) DO UPDATE SET
           payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, session_uid_hash = EXCLUDED.session_uid_hash,
           -- A device code found by its id has no user code to re-save; its digest stays, so the code still names it.
           user_code_hash = COALESCE(EXCLUDED.user_code_hash, oidc_models.user_code_hash), expires_at = EXCLUDED.expires_at`,
        [
          model,
          sha256(id),
          JSON.stringify(stored),
          // A grant row keeps its own id, so remembered consent can find it without a session (latestGrantId).
          payload.grantId ?? (model === 'Grant' ? id : null),
          model === 'Session' && payload.uid ? sha256(payload.uid) : null,
          userCodeHash,
          expiresInSeconds ?? null,
        ],
      );
      if (model === 'DeviceCode') await deviceCodeAliases(id, JSON.stringify(stored), alias);
    },

    find(model: string, id: string): Promise<ArtifactPayload | undefined> {
      return new Promise((resolve, reject) => {
        let models = waiting.get(id);
        if (!models) {
          const batch = new Map<string, Waiter[]>();
          models = batch;
          waiting.set(id, batch);
          queueMicrotask(() => {
            waiting.delete(id);
            void lookUp(id, batch);
          });
        }
        const waiters = models.get(model);
        if (waiters) waiters.push({ resolve, reject });
        else models.set(model, [{ resolve, reject }]);
      });
    },

    /** Sessions by their uid; the uid is itself only stored hashed. */
    async findSessionByUid(uid: string): Promise<ArtifactPayload | undefined> {
      const { rows } = await db.query<Row & { jti: string }>(
        `SELECT payload, consumed_at FROM oidc_models WHERE model = 'Session' AND session_uid_hash = $1 AND ${live}`,
        [sha256(uid)],
      );
      // The session id cannot be recovered from its hash; the library only needs the
      // payload here and re-saves under the cookie's id, which it still holds.
      const row = rows[0];
      return row ? { ...row.payload } : undefined;
    },

    async findByUserCode(model: string, userCode: string): Promise<ArtifactPayload | undefined> {
      const { rows } = await db.query<Row>(
        `SELECT payload, consumed_at FROM oidc_models WHERE model = $1 AND user_code_hash = $2 AND ${live}`,
        [model, sha256(userCode)],
      );
      // Found by its digest, so the code is this one: the library compares it with the payload's (lib/models/device_code.js findByUserCode).
      const row = rows[0];
      return row ? { ...row.payload, userCode } : undefined;
    },

    /**
     * Marks a row consumed if, and only if, nobody consumed it first. Returns the
     * row's grant id when it was already consumed, so the caller can treat the
     * second use as a replay (RFC 6749 §4.1.2: revoke what the code issued).
     */
    async consume(model: string, id: string): Promise<{ consumed: true } | { consumed: false; grantId: string | null }> {
      const idHash = sha256(id);
      const updated = await db.query(
        'UPDATE oidc_models SET consumed_at = now() WHERE model = $1 AND id_hash = $2 AND consumed_at IS NULL',
        [model, idHash],
      );
      if (updated.rowCount > 0) return { consumed: true };
      const { rows } = await db.query<{ grant_id: string | null }>('SELECT grant_id FROM oidc_models WHERE model = $1 AND id_hash = $2', [model, idHash]);
      return { consumed: false, grantId: rows[0]?.grant_id ?? null };
    },

    async destroy(model: string, id: string): Promise<void> {
      await db.query('DELETE FROM oidc_models WHERE model = $1 AND id_hash = $2', [model, sha256(id)]);
    },

    /**
     * The id of an account's newest live grant for a client: what the user
     * last allowed that client, whichever session they allowed it in.
     */
    async latestGrantId(accountId: string, clientId: string): Promise<string | undefined> {
      const { rows } = await db.query<{ grant_id: string }>(
        `SELECT grant_id FROM oidc_models
          WHERE model = 'Grant' AND payload->>'accountId' = $1 AND payload->>'clientId' = $2 AND grant_id IS NOT NULL AND ${live}
          ORDER BY expires_at DESC NULLS LAST LIMIT 1`,
        [accountId, clientId],
      );
      return rows[0]?.grant_id;
    },

    /** Removes every token, code and the grant itself: what a replay or a revocation must kill. */
    async revokeGrant(grantId: string, executor: Queryable = db): Promise<number> {
      const { rowCount } = await executor.query(
        "DELETE FROM oidc_models WHERE grant_id = $1 OR (model = 'Grant' AND id_hash = $2)",
        [grantId, sha256(grantId)],
      );
      return rowCount;
    },

    async revokeByGrantId(model: string, grantId: string): Promise<void> {
      await db.query('DELETE FROM oidc_models WHERE model = $1 AND grant_id = $2', [model, grantId]);
    },

    /** Deletes one batch of expired rows; returns how many went. */
    async deleteExpired(batchSize: number): Promise<number> {
      const { rowCount } = await db.query(
        `DELETE FROM oidc_models WHERE (model, id_hash) IN (
           SELECT model, id_hash FROM oidc_models WHERE expires_at < now() LIMIT $1
         )`,
        [batchSize],
      );
      return rowCount;
    },
  };
}

