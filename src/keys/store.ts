import type { Db, Queryable } from '../db/index.js';
import type { KeyRecord } from './lifecycle.js';

export interface SigningKeyRow {
  kid: string;
  alg: string;
  public_jwk: Record<string, unknown>;
  private_ciphertext: string;
  created_at: Date;
  activate_at: Date;
  retired_at: Date | null;
  revoked_at: Date | null;
}

export const toRecord = (row: SigningKeyRow): KeyRecord => ({
  kid: row.kid,
  alg: row.alg,
  createdAt: row.created_at,
  activateAt: row.activate_at,
  retiredAt: row.retired_at,
  revokedAt: row.revoked_at,
});

export function createSigningKeyStore(db: Db) {
  return {
    async insert(row: Pick<SigningKeyRow, 'kid' | 'alg' | 'public_jwk' | 'private_ciphertext' | 'activate_at'>, executor: Queryable = db): Promise<void> {
      await executor.query(
        'INSERT INTO signing_keys (kid, alg, public_jwk, private_ciphertext, activate_at) VALUES ($1, $2, $3::jsonb, $4, $5)',
        [row.kid, row.alg, JSON.stringify(row.public_jwk), row.private_ciphertext, row.activate_at],
      );
    },
    async list(executor: Queryable = db): Promise<SigningKeyRow[]> {
      const { rows } = await executor.query<SigningKeyRow>('SELECT * FROM signing_keys ORDER BY activate_at DESC, kid');
      return rows;
    },
    async setActivateAt(kid: string, at: Date): Promise<void> {
      await db.query('UPDATE signing_keys SET activate_at = $2 WHERE kid = $1', [kid, at]);
    },
    async setRetiredAt(kid: string, at: Date): Promise<void> {
      await db.query('UPDATE signing_keys SET retired_at = COALESCE(retired_at, $2) WHERE kid = $1', [kid, at]);
    },
    async setRevokedAt(kid: string, at: Date): Promise<void> {
      await db.query('UPDATE signing_keys SET revoked_at = COALESCE(revoked_at, $2), retired_at = COALESCE(retired_at, $2) WHERE kid = $1', [kid, at]);
    },
    async setCiphertext(kid: string, ciphertext: string): Promise<void> {
      await db.query('UPDATE signing_keys SET private_ciphertext = $2 WHERE kid = $1', [kid, ciphertext]);
    },
    async remove(kids: readonly string[]): Promise<number> {
      if (kids.length === 0) return 0;
      const { rowCount } = await db.query('DELETE FROM signing_keys WHERE kid = ANY($1::text[])', [kids as unknown as string[]]);
      return rowCount;
    },
  };
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;
