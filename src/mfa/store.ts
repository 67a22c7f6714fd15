import type { Db, Queryable } from '../db/index.js';

export interface FactorRow {
  account_id: string;
  seed_ciphertext: string;
  recovery_key_ciphertext: string;
  last_used_step: number;
  last_used_at: Date | null;
  created_at: Date;
}

export interface NewFactor {
  accountId: string;
  seedCiphertext: string;
  recoveryKeyCiphertext: string;
  /** The step of the code that confirmed it, so that code cannot sign in afterwards. */
  lastUsedStep: number;
  recoveryCodeHashes: Buffer[];
}

// int8 comes back as a number from pg (see db/postgres.ts) and may be a bigint or string elsewhere.
const toFactor = (row: FactorRow): FactorRow => ({ ...row, last_used_step: Number(row.last_used_step) });

async function insertCodes(tx: Queryable, accountId: string, hashes: readonly Buffer[]): Promise<void> {
  for (const hash of hashes) {
    await tx.query('INSERT INTO recovery_codes (account_id, code_hash) VALUES ($1, $2)', [accountId, hash]);
  }
}

/** The `totp_factors` and `recovery_codes` tables: a factor and its codes change together. */
export function createFactorStore(db: Db) {
  return {
    async find(accountId: string): Promise<FactorRow | undefined> {
      const { rows } = await db.query<FactorRow>('SELECT * FROM totp_factors WHERE account_id = $1', [accountId]);
      return rows[0] ? toFactor(rows[0]) : undefined;
    },

    async exists(accountId: string): Promise<boolean> {
      const { rows } = await db.query('SELECT 1 FROM totp_factors WHERE account_id = $1', [accountId]);
      return rows.length > 0;
    },

    /** Adds the factor and its codes; false (and nothing written) when the account already has one. */
    async insert(factor: NewFactor): Promise<boolean> {
      return db.transaction(async (tx) => {
        const { rowCount } = await tx.query(
          `INSERT INTO totp_factors (account_id, seed_ciphertext, recovery_key_ciphertext, last_used_step, last_used_at)
           VALUES ($1, $2, $3, $4, now()) ON CONFLICT (account_id) DO NOTHING`,
          [factor.accountId, factor.seedCiphertext, factor.recoveryKeyCiphertext, factor.lastUsedStep],
        );
        if (rowCount === 0) return false;
        await insertCodes(tx, factor.accountId, factor.recoveryCodeHashes);
        return true;
      });
    },

    /**
     * Spends time step `step`: succeeds only if no code of this step or a
     * later one was accepted before. The single conditional UPDATE is what
     * makes two parallel requests with the same code end with one success.
     */
    async claimStep(accountId: string, step: number): Promise<boolean> {
      const { rowCount } = await db.query(
        'UPDATE totp_factors SET last_used_step = $2, last_used_at = now() WHERE account_id = $1 AND last_used_step < $2',
        [accountId, step],
      );
      return rowCount > 0;
    },

    /** Marks one unused code used; false when there is no such unused code (wrong, or spent by a parallel request). */
    async spendRecoveryCode(accountId: string, hash: Buffer): Promise<boolean> {
      const { rowCount } = await db.query(
        'UPDATE recovery_codes SET used_at = now() WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL',
        [accountId, hash],
      );
      return rowCount > 0;
    },

    async unusedRecoveryCodes(accountId: string): Promise<number> {
      const { rows } = await db.query<{ n: number | string }>(
        'SELECT count(*) AS n FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL',
        [accountId],
      );
      return Number(rows[0]?.n ?? 0);
    },

    /** Replaces every code (used or not) with new ones; false when the account has no factor. */
    async replaceRecoveryCodes(accountId: string, hashes: readonly Buffer[]): Promise<boolean> {
      return db.transaction(async (tx) => {
        // Row lock on the factor: a concurrent reset or replacement waits for this one.
        const { rows } = await tx.query('SELECT 1 FROM totp_factors WHERE account_id = $1 FOR UPDATE', [accountId]);
        if (rows.length === 0) return false;
        await tx.query('DELETE FROM recovery_codes WHERE account_id = $1', [accountId]);
        await insertCodes(tx, accountId, hashes);
        return true;
      });
    },

    /** Removes the factor and (by cascade) its codes. */
    async remove(accountId: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM totp_factors WHERE account_id = $1', [accountId]);
      return rowCount > 0;
    },

    async list(): Promise<FactorRow[]> {
      const { rows } = await db.query<FactorRow>('SELECT * FROM totp_factors ORDER BY account_id');
      return rows.map(toFactor);
    },

    /** Re-sealed ciphertexts, written only if the row still holds what was read (a reset in between wins). */
    async replaceCiphertexts(accountId: string, before: { seed: string; recoveryKey: string }, after: { seed: string; recoveryKey: string }): Promise<boolean> {
      const { rowCount } = await db.query(
        `UPDATE totp_factors SET seed_ciphertext = $4, recovery_key_ciphertext = $5
         WHERE account_id = $1 AND seed_ciphertext = $2 AND recovery_key_ciphertext = $3`,
        [accountId, before.seed, before.recoveryKey, after.seed, after.recoveryKey],
      );
      return rowCount > 0;
    },
  };
}

export type FactorStore = ReturnType<typeof createFactorStore>;
