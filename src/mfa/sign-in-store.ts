import type { Db } from '../db/index.js';

/** `totp`: a second factor (TOTP or passkey) is due; `enrol`, `passkey_enrol`: one is being set up. */
export type SignInStage = 'totp' | 'enrol' | 'enrolled' | 'recovered' | 'passkey_enrol';

export interface SignInRow {
  account_id: string;
  stage: SignInStage;
  amr: string[];
  enrolment_seed_ciphertext: string | null;
  expires_at: Date;
}

/** The `mfa_sign_ins` table, keyed by the SHA-256 of the interaction id. Expired rows are never returned. */
export function createSignInStore(db: Db) {
  return {
    async upsert(key: Buffer, row: Omit<SignInRow, 'expires_at'> & { expiresAt: Date }): Promise<void> {
      await db.query(
        `INSERT INTO mfa_sign_ins (interaction_hash, account_id, stage, amr, enrolment_seed_ciphertext, expires_at)
         VALUES ($1, $2, $3, $4::jsonb, $5, $6)
         ON CONFLICT (interaction_hash) DO UPDATE SET account_id = EXCLUDED.account_id, stage = EXCLUDED.stage, amr = EXCLUDED.amr,
           enrolment_seed_ciphertext = EXCLUDED.enrolment_seed_ciphertext, expires_at = EXCLUDED.expires_at`,
        [key, row.account_id, row.stage, JSON.stringify(row.amr), row.enrolment_seed_ciphertext, row.expiresAt],
      );
    },

    async find(key: Buffer): Promise<SignInRow | undefined> {
      const { rows } = await db.query<SignInRow>(
        'SELECT account_id, stage, amr, enrolment_seed_ciphertext, expires_at FROM mfa_sign_ins WHERE interaction_hash = $1 AND expires_at > now()',
        [key],
      );
      return rows[0];
    },

    /** Moves from one stage to the next; false when the row is no longer at `from` (a parallel request moved it first). */
    async advance(key: Buffer, from: SignInStage, to: SignInStage, amr: string[]): Promise<boolean> {
      const { rowCount } = await db.query(
        `UPDATE mfa_sign_ins SET stage = $3, amr = $4::jsonb, enrolment_seed_ciphertext = NULL
         WHERE interaction_hash = $1 AND stage = $2 AND expires_at > now()`,
        [key, from, to, JSON.stringify(amr)],
      );
      return rowCount > 0;
    },

    /** Deletes and returns the row if it is at one of `stages`: the one request that gets it finishes the sign-in. */
    async take(key: Buffer, stages: readonly SignInStage[]): Promise<SignInRow | undefined> {
      const { rows } = await db.query<SignInRow>(
        `DELETE FROM mfa_sign_ins WHERE interaction_hash = $1 AND stage = ANY($2::text[]) AND expires_at > now()
         RETURNING account_id, stage, amr, enrolment_seed_ciphertext, expires_at`,
        [key, stages],
      );
      return rows[0];
    },

    async remove(key: Buffer): Promise<void> {
      await db.query('DELETE FROM mfa_sign_ins WHERE interaction_hash = $1', [key]);
    },

    async deleteExpired(): Promise<number> {
      const { rowCount } = await db.query('DELETE FROM mfa_sign_ins WHERE expires_at <= now()');
      return rowCount;
    },

    /** Rows holding an enrolment seed, for `rewrap`. */
    async listEnrolments(): Promise<Array<{ interaction_hash: Buffer; account_id: string; enrolment_seed_ciphertext: string }>> {
      const { rows } = await db.query<{ interaction_hash: Buffer; account_id: string; enrolment_seed_ciphertext: string }>(
        'SELECT interaction_hash, account_id, enrolment_seed_ciphertext FROM mfa_sign_ins WHERE enrolment_seed_ciphertext IS NOT NULL AND expires_at > now()',
      );
      return rows;
    },

    async replaceEnrolmentCiphertext(key: Buffer, before: string, after: string): Promise<boolean> {
      const { rowCount } = await db.query(
        'UPDATE mfa_sign_ins SET enrolment_seed_ciphertext = $3 WHERE interaction_hash = $1 AND enrolment_seed_ciphertext = $2',
        [key, before, after],
      );
      return rowCount > 0;
    },
  };
}

export type SignInStore = ReturnType<typeof createSignInStore>;
