import type { Db } from '../db/index.js';

export function createReplayStore(db: Db) {
  return {
    /**
     * Records a hash as seen until `expiresInSeconds` from now; true only for
     * the first caller. One statement, so two nodes racing on the same proof
     * cannot both win (PostgreSQL serialises inserts on the primary key). A row
     * already expired but not yet swept counts as unseen and is taken over.
     */
    async claim(hash: Buffer, expiresInSeconds: number): Promise<boolean> {
      const { rowCount } = await db.query(
        `INSERT INTO proof_replays (jti_hash, expires_at) VALUES ($1, now() + make_interval(secs => $2))
         ON CONFLICT (jti_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE proof_replays.expires_at <= now()`,
        [hash, expiresInSeconds],
      );
      return rowCount === 1;
    },
    async deleteExpired(batchSize: number): Promise<number> {
      const { rowCount } = await db.query(
        'DELETE FROM proof_replays WHERE jti_hash IN (SELECT jti_hash FROM proof_replays WHERE expires_at < now() LIMIT $1)',
        [batchSize],
      );
      return rowCount;
    },
    async count(): Promise<number> {
      const { rows } = await db.query<{ n: number }>('SELECT count(*)::integer AS n FROM proof_replays');
      return rows[0]?.n ?? 0;
    },
  };
}
