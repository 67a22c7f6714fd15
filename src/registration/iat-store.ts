import type { Db, Queryable } from '../db/index.js';

export interface IatRow {
  id: string;
  policy: string | null;
  description: string | null;
  max_uses: number;
  uses: number;
  expires_at: Date;
  revoked_at: Date | null;
  last_used_at: Date | null;
  created_at: Date;
}

/** Every column but the hash: nothing reads the hash back, it is only compared in SQL. */
const columns = 'id, policy, description, max_uses, uses, expires_at, revoked_at, last_used_at, created_at';
const usable = 'revoked_at IS NULL AND expires_at > now() AND uses < max_uses';

/** The initial_access_tokens table's contract; tokens are found by the SHA-256 of their value only. */
export interface IatStore {
  insert(row: { id: string; tokenHash: Buffer; policy: string | null; description: string | null; maxUses: number; expiresInSeconds: number }): Promise<IatRow>;
  /** The token row if it may register a client right now; undefined for unknown, expired, revoked or used up. */
  findUsable(tokenHash: Buffer): Promise<IatRow | undefined>;
  /** Any token row, usable or not. */
  findByHash(tokenHash: Buffer): Promise<IatRow | undefined>;
  /** Counts one use if the token is still usable, in one conditional UPDATE. */
  consumeUse(tx: Queryable, tokenHash: Buffer): Promise<IatRow | undefined>;
  findById(id: string): Promise<IatRow | undefined>;
  list(): Promise<IatRow[]>;
  /** false when there is no such token or it was already revoked. */
  revoke(id: string): Promise<boolean>;
}

export function createIatStore(db: Db): IatStore {
  return {
    async insert(row: { id: string; tokenHash: Buffer; policy: string | null; description: string | null; maxUses: number; expiresInSeconds: number }): Promise<IatRow> {
      const { rows } = await db.query<IatRow>(
        `INSERT INTO initial_access_tokens (id, token_hash, policy, description, max_uses, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::integer)) RETURNING ${columns}`,
        [row.id, row.tokenHash, row.policy, row.description, row.maxUses, row.expiresInSeconds],
      );
      return rows[0]!;
    },

    /** The token row if it may register a client right now; undefined for unknown, expired, revoked or used up. */
    async findUsable(tokenHash: Buffer): Promise<IatRow | undefined> {
      const { rows } = await db.query<IatRow>(`SELECT ${columns} FROM initial_access_tokens WHERE token_hash = $1 AND ${usable}`, [tokenHash]);
      return rows[0];
    },

    /** Any token row, usable or not: to tell an operator (and the audit log) why it was refused. */
    async findByHash(tokenHash: Buffer): Promise<IatRow | undefined> {
      const { rows } = await db.query<IatRow>(`SELECT ${columns} FROM initial_access_tokens WHERE token_hash = $1`, [tokenHash]);
      return rows[0];
    },

    /**
     * Counts one use if the token is still usable, in one conditional UPDATE.
     * Inside the registration transaction it also locks the row, so concurrent
     * registrations with one token queue here and the last use and the
     * per-token client cap cannot be overrun.
     */
    async consumeUse(tx: Queryable, tokenHash: Buffer): Promise<IatRow | undefined> {
      const { rows } = await tx.query<IatRow>(
        `UPDATE initial_access_tokens SET uses = uses + 1, last_used_at = now() WHERE token_hash = $1 AND ${usable} RETURNING ${columns}`,
        [tokenHash],
      );
      return rows[0];
    },

    async findById(id: string): Promise<IatRow | undefined> {
      const { rows } = await db.query<IatRow>(`SELECT ${columns} FROM initial_access_tokens WHERE id = $1`, [id]);
      return rows[0];
    },

    async list(): Promise<IatRow[]> {
      const { rows } = await db.query<IatRow>(`SELECT ${columns} FROM initial_access_tokens ORDER BY created_at, id`);
      return rows;
    },

    /** false when there is no such token or it was already revoked. */
    async revoke(id: string): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE initial_access_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
      return rowCount > 0;
    },
  };
}
