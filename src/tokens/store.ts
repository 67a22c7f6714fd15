import type { Db } from '../db/index.js';

/** The revoked_access_tokens table: JWT access-token ids revoked before their expiry. */
export function createRevokedTokenStore(db: Db) {
  return {
    /** Records a revocation; a second revocation of the same token changes nothing. */
    async insert(jti: string, clientId: string, expiresAt: Date): Promise<boolean> {
      const { rowCount } = await db.query(
        'INSERT INTO revoked_access_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING',
        [jti, clientId, expiresAt],
      );
      return rowCount > 0;
    },
    async isRevoked(jti: string): Promise<boolean> {
      const { rows } = await db.query<{ one: number }>('SELECT 1 AS one FROM revoked_access_tokens WHERE jti = $1', [jti]);
      return rows.length > 0;
    },
    /**
     * Forgets entries whose token has expired (an expired token is inactive
     * anyway), a bounded batch at a time; revocations are rare, so each one
     * sweeping a little keeps the table small without a schedule of its own.
     */
    async deleteExpired(batchSize: number): Promise<number> {
      const { rowCount } = await db.query(
        'DELETE FROM revoked_access_tokens WHERE jti IN (SELECT jti FROM revoked_access_tokens WHERE expires_at < now() LIMIT $1)',
        [batchSize],
      );
      return rowCount;
    },
  };
}
