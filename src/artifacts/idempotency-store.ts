/**
 * The admin_idempotency_keys table (migration 0016): responses of admin API
 * creates sent with Idempotency-Key, by the SHA-256 of caller and key. The
 * HTTP semantics are in src/admin/idempotency.ts; rows expire and go with the
 * other expired rows (src/artifacts/cleanup.ts).
 */
import type { Db } from '../db/index.js';

/** How long a first request holds its key before another node may take it over (it cannot run longer: server.requestTimeout is 30 s). */
const leaseSeconds = 60;

export interface StoredResponse {
  status: number;
  body?: unknown;
  headers: Record<string, string>;
}

type Begin =
  | { kind: 'started' }
  | { kind: 'mismatch' }
  | { kind: 'pending' }
  | { kind: 'done'; response: StoredResponse; withheld: boolean };

export interface IdempotencyStore {
  begin(keyHash: Buffer, fingerprint: Buffer): Promise<Begin>;
  complete(keyHash: Buffer, response: StoredResponse, withheld: boolean, ttlSeconds: number): Promise<void>;
  release(keyHash: Buffer): Promise<void>;
  deleteExpired(batchSize: number): Promise<number>;
}

interface Row {
  fingerprint: Buffer;
  state: 'pending' | 'done';
  status: number | null;
  response: StoredResponse | null;
  withheld: boolean;
}

export function createIdempotencyStore(db: Db): IdempotencyStore {
  return {
    async begin(keyHash, fingerprint) {
      // Inserts, or takes over an expired row (a finished one past its TTL, or an abandoned lease).
      const { rows: taken } = await db.query<{ key_hash: Buffer }>(
        `INSERT INTO admin_idempotency_keys (key_hash, fingerprint, state, expires_at) VALUES ($1, $2, 'pending', now() + make_interval(secs => $3::integer))
         ON CONFLICT (key_hash) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, state = 'pending', status = NULL, response = NULL, withheld = false,
           created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE admin_idempotency_keys.expires_at <= now()
         RETURNING key_hash`,
        [keyHash, fingerprint, leaseSeconds],
      );
      if (taken.length > 0) return { kind: 'started' };
      const { rows } = await db.query<Row>('SELECT fingerprint, state, status, response, withheld FROM admin_idempotency_keys WHERE key_hash = $1', [keyHash]);
      const row = rows[0];
      // Swept between the two statements: the caller may simply try again.
      if (!row) return { kind: 'pending' };
      if (!Buffer.from(row.fingerprint).equals(fingerprint)) return { kind: 'mismatch' };
      if (row.state === 'pending' || !row.response) return { kind: 'pending' };
      return { kind: 'done', response: row.response, withheld: row.withheld };
    },
    async complete(keyHash, response, withheld, ttlSeconds) {
      await db.query(
        `UPDATE admin_idempotency_keys SET state = 'done', status = $2, response = $3::jsonb, withheld = $4, expires_at = now() + make_interval(secs => $5::integer)
         WHERE key_hash = $1`,
        [keyHash, response.status, JSON.stringify(response), withheld, ttlSeconds],
      );
    },
    async release(keyHash) {
      await db.query("DELETE FROM admin_idempotency_keys WHERE key_hash = $1 AND state = 'pending'", [keyHash]);
    },
    async deleteExpired(batchSize) {
      const { rowCount } = await db.query(
        'DELETE FROM admin_idempotency_keys WHERE key_hash IN (SELECT key_hash FROM admin_idempotency_keys WHERE expires_at <= now() LIMIT $1)',
        [batchSize],
      );
      return rowCount;
    },
  };
}

