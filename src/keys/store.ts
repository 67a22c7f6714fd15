import type { Db, Queryable } from '../db/index.js';

export type KeyState = 'next' | 'active' | 'retired' | 'revoked';

export interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: Record<string, unknown>;
  private_ciphertext: string;
  state: KeyState;
  created_at: Date;
  activate_at: Date;
  retire_at: Date | null;
  delete_after: Date | null;
}

export function createSigningKeyStore(db: Db) {
  return {
    async insert(row: Pick<SigningKeyRow, 'kid' | 'alg' | 'public_jwk' | 'private_ciphertext' | 'state'>, executor: Queryable = db): Promise<void> {
      await executor.query(
        'INSERT INTO signing_keys (kid, alg, public_jwk, private_ciphertext, state) VALUES ($1, $2, $3::jsonb, $4, $5)',
        [row.kid, row.alg, JSON.stringify(row.public_jwk), row.private_ciphertext, row.state],
      );
    },
    /** Keys that belong in the JWKS: everything not revoked and not past deletion. */
    async listPublished(executor: Queryable = db): Promise<SigningKeyRow[]> {
      const { rows } = await executor.query<SigningKeyRow>(
        "SELECT * FROM signing_keys WHERE state <> 'revoked' AND (delete_after IS NULL OR delete_after > now()) ORDER BY activate_at DESC, kid",
      );
      return rows;
    },
    async listAll(): Promise<SigningKeyRow[]> {
      const { rows } = await db.query<SigningKeyRow>('SELECT * FROM signing_keys ORDER BY created_at DESC, kid');
      return rows;
    },
  };
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;
