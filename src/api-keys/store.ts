import type { Db } from '../db/index.js';

export interface ApiKeyRow {
  id: string;
  owner_kind: 'client' | 'user';
  owner_id: string;
  name: string;
  scopes: string[];
  allowed_cidrs: string[];
  rate_count: number;
  rate_window_seconds: number;
  expires_at: Date | null;
  revoked_at: Date | null;
  rotated_from: string | null;
  last_used_at: Date | null;
  last_used_ip: string | null;
  created_at: Date;
}

export interface ApiKeyInsert {
  id: string;
  keyHash: Buffer;
  ownerKind: 'client' | 'user';
  ownerId: string;
  name: string;
  scopes: readonly string[];
  allowedCidrs: readonly string[];
  rateCount: number;
  rateWindowSeconds: number;
  expiresAt: Date;
  rotatedFrom: string | null;
}

/** Every column but the hash: nothing reads the hash back, it is only compared in SQL. */
const columns = 'id, owner_kind, owner_id, name, scopes, allowed_cidrs, rate_count, rate_window_seconds, expires_at, revoked_at, rotated_from, last_used_at, last_used_ip, created_at';

const insertSql = `INSERT INTO api_keys (id, key_hash, owner_kind, owner_id, name, scopes, allowed_cidrs, rate_count, rate_window_seconds, expires_at, rotated_from)
  VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11) RETURNING ${columns}`;

const insertParams = (row: ApiKeyInsert) => [
  row.id, row.keyHash, row.ownerKind, row.ownerId, row.name, JSON.stringify(row.scopes), JSON.stringify(row.allowedCidrs),
  row.rateCount, row.rateWindowSeconds, row.expiresAt, row.rotatedFrom,
];

/** The api_keys table. */
export function createApiKeyStore(db: Db) {
  return {
    async insert(row: ApiKeyInsert): Promise<ApiKeyRow> {
      const { rows } = await db.query<ApiKeyRow>(
        insertSql,
        insertParams(row),
      );
      return rows[0]!;
    },

    /**
     * The key behind a presented value, whatever its state (the caller says
     * why it is refused). Read from the table on every use, never cached, so
     * a revocation committed on one node refuses the key on every node at
     * once; an exchange is one indexed lookup, and it yields a JWT the
     * caller reuses for its lifetime.
     */
    async findByHash(keyHash: Buffer): Promise<ApiKeyRow | undefined> {
      const { rows } = await db.query<ApiKeyRow>(`SELECT ${columns} FROM api_keys WHERE key_hash = $1`, [keyHash]);
      return rows[0];
    },

    async findById(id: string): Promise<ApiKeyRow | undefined> {
      const { rows } = await db.query<ApiKeyRow>(`SELECT ${columns} FROM api_keys WHERE id = $1`, [id]);
      return rows[0];
    },

    async list(owner?: { kind: string; id: string }): Promise<ApiKeyRow[]> {
      const { rows } = owner
        ? await db.query<ApiKeyRow>(`SELECT ${columns} FROM api_keys WHERE owner_kind = $1 AND owner_id = $2 ORDER BY created_at, id`, [owner.kind, owner.id])
        : await db.query<ApiKeyRow>(`SELECT ${columns} FROM api_keys ORDER BY created_at, id`);
      return rows;
    },

    /** Last use wins: concurrent uses race harmlessly on a fact that is only ever "recent". */
    async recordUse(id: string, ip: string): Promise<void> {
      await db.query('UPDATE api_keys SET last_used_at = now(), last_used_ip = $2 WHERE id = $1', [id, ip]);
    },

    /** undefined when there is no such key or it was already revoked. */
    async revoke(id: string): Promise<ApiKeyRow | undefined> {
      const { rows } = await db.query<ApiKeyRow>(`UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING ${columns}`, [id]);
      return rows[0];
    },

    /**
     * Rotation: the new key is inserted and the old one's expiry brought
     * forward to the end of the overlap, in one transaction, so there is never
     * a moment with neither key or with two unbounded ones.
     */
    async rotate(oldId: string, overlapSeconds: number, next: ApiKeyInsert): Promise<{ previous: ApiKeyRow; created: ApiKeyRow } | undefined> {
      return db.transaction(async (tx) => {
        const { rows: old } = await tx.query<ApiKeyRow>(
          `UPDATE api_keys SET expires_at = LEAST(expires_at, now() + make_interval(secs => $2::integer))
           WHERE id = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING ${columns}`,
          [oldId, overlapSeconds],
        );
        if (!old[0]) return undefined;
        const { rows } = await tx.query<ApiKeyRow>(
          insertSql, insertParams(next)
        );
        return { previous: old[0], created: rows[0]! };
      });
    },
  };
}
