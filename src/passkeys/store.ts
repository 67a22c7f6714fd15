import type { Db } from '../db/index.js';

export interface PasskeyRow {
  id: string;
  account_id: string;
  credential_id: string;
  public_key: Buffer;
  counter: number;
  transports: string[];
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  aaguid: string;
  attestation: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

export type NewPasskeyRow = Omit<PasskeyRow, 'created_at' | 'last_used_at'>;

// int8 comes back as a number from pg (see db/postgres.ts) and may be a bigint or string elsewhere.
const toPasskey = (row: PasskeyRow): PasskeyRow => ({ ...row, counter: Number(row.counter), public_key: Buffer.from(row.public_key) });

/** The `passkeys` and `webauthn_challenges` tables. */
export function createPasskeyStore(db: Db) {
  return {
    /** False when the credential id is registered already (to this account or another). */
    async insert(row: NewPasskeyRow): Promise<boolean> {
      const { rowCount } = await db.query(
        `INSERT INTO passkeys (id, account_id, credential_id, public_key, counter, transports, device_type, backed_up, aaguid, attestation, name)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) ON CONFLICT (credential_id) DO NOTHING`,
        [row.id, row.account_id, row.credential_id, row.public_key, row.counter, JSON.stringify(row.transports), row.device_type, row.backed_up, row.aaguid, row.attestation, row.name],
      );
      return rowCount > 0;
    },

    async byCredentialId(credentialId: string): Promise<PasskeyRow | undefined> {
      const { rows } = await db.query<PasskeyRow>('SELECT * FROM passkeys WHERE credential_id = $1', [credentialId]);
      return rows[0] ? toPasskey(rows[0]) : undefined;
    },

    async ofAccount(accountId: string): Promise<PasskeyRow[]> {
      const { rows } = await db.query<PasskeyRow>('SELECT * FROM passkeys WHERE account_id = $1 ORDER BY created_at, id', [accountId]);
      return rows.map(toPasskey);
    },

    async exists(accountId: string): Promise<boolean> {
      const { rows } = await db.query('SELECT 1 FROM passkeys WHERE account_id = $1 LIMIT 1', [accountId]);
      return rows.length > 0;
    },

    /**
     * Records a verified assertion. The counter only moves forward in one
     * conditional UPDATE, so of two parallel assertions carrying the same
     * counter (a replay, or a clone racing the original) one fails; a
     * counter of 0 (authenticators that do not count, §6.1.1) always passes.
     */
    async recordUse(id: string, after: number, backedUp: boolean): Promise<boolean> {
      const { rowCount } = await db.query(
        `UPDATE passkeys SET counter = $2, backed_up = $3, last_used_at = now()
         WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))`,
        [id, after, backedUp],
      );
      return rowCount > 0;
    },

    async rename(accountId: string, id: string, name: string): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE passkeys SET name = $3 WHERE account_id = $1 AND id = $2', [accountId, id, name]);
      return rowCount > 0;
    },

    async remove(accountId: string, id: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM passkeys WHERE account_id = $1 AND id = $2', [accountId, id]);
      return rowCount > 0;
    },

    async saveChallenge(ceremony: Buffer, challengeHash: Buffer, expiresAt: Date): Promise<void> {
      await db.query(
        `INSERT INTO webauthn_challenges (ceremony_hash, challenge_hash, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (ceremony_hash) DO UPDATE SET challenge_hash = EXCLUDED.challenge_hash, expires_at = EXCLUDED.expires_at`,
        [ceremony, challengeHash, expiresAt],
      );
      // Housekeeping rides on new ceremonies rather than a timer of its own.
      await db.query('DELETE FROM webauthn_challenges WHERE expires_at <= now()');
    },

    /** Deletes and returns the ceremony's challenge hash: exactly one verification gets it. */
    async takeChallenge(ceremony: Buffer): Promise<Buffer | undefined> {
      const { rows } = await db.query<{ challenge_hash: Buffer }>(
        'DELETE FROM webauthn_challenges WHERE ceremony_hash = $1 AND expires_at > now() RETURNING challenge_hash',
        [ceremony],
      );
      return rows[0] ? Buffer.from(rows[0].challenge_hash) : undefined;
    },
  };
}

export type PasskeyStore = ReturnType<typeof createPasskeyStore>;
