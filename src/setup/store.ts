/** setup_links: one-time first-run links, keyed by the SHA-256 of their token. */
import type { Db, Queryable } from '../db/index.js';

export interface SetupLinkRow {
  id: string;
  seed_ciphertext: string | null;
  expires_at: Date;
  used_at: Date | null;
}

export function createSetupStore(db: Db) {
  return {
    async insert(row: { id: string; tokenHash: Buffer; expiresAt: Date }): Promise<void> {
      await db.query('INSERT INTO setup_links (id, token_hash, expires_at) VALUES ($1, $2, $3)', [row.id, row.tokenHash, row.expiresAt]);
    },

    /** A link that can still be used: not used, not expired. */
    async findUsable(tokenHash: Buffer, q: Queryable = db): Promise<SetupLinkRow | undefined> {
      const { rows } = await q.query<SetupLinkRow>(
        'SELECT id, seed_ciphertext, expires_at, used_at FROM setup_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()',
        [tokenHash],
      );
      return rows[0];
    },

    /** The seed a link shows; set once, so two tabs of the same link show the same seed. */
    async setSeedOnce(id: string, seedCiphertext: string): Promise<string> {
      const { rows } = await db.query<{ seed_ciphertext: string }>(
        `UPDATE setup_links SET seed_ciphertext = COALESCE(seed_ciphertext, $2) WHERE id = $1 RETURNING seed_ciphertext`,
        [id, seedCiphertext],
      );
      return rows[0]!.seed_ciphertext;
    },

    /**
     * Spends the link. The UPDATE's WHERE is the check: of two submissions of
     * the same link one wins, and a link issued before an administrator
     * existed stops working the moment one does.
     */
    async spend(id: string, q: Queryable): Promise<boolean> {
      const { rowCount } = await q.query(
        `UPDATE setup_links SET used_at = now()
          WHERE id = $1 AND used_at IS NULL AND expires_at > now()
            AND NOT EXISTS (SELECT 1 FROM accounts WHERE admin)`,
        [id],
      );
      return rowCount === 1;
    },

    /** Expired and spent links go with the other expired rows (src/artifacts/cleanup.ts). */
    async deleteExpired(batchSize: number): Promise<number> {
      const { rowCount } = await db.query(
        'DELETE FROM setup_links WHERE id IN (SELECT id FROM setup_links WHERE expires_at < now() LIMIT $1)',
        [batchSize],
      );
      return rowCount;
    },

    async adminExists(): Promise<boolean> {
      const { rows } = await db.query<{ exists: boolean }>('SELECT EXISTS (SELECT 1 FROM accounts WHERE admin) AS exists');
      return rows[0]!.exists;
    },
  };
}

export type SetupStore = ReturnType<typeof createSetupStore>;
