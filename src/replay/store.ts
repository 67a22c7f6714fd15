import { createCoalescer } from '../db/coalesce.js';
import type { Db } from '../db/index.js';

interface Claim { hash: Buffer; expiresInSeconds: number }

export function createReplayStore(db: Db) {
  /**
   * Records each hash as seen until its `expiresInSeconds` from now and says
   * which were new, in one statement: PostgreSQL serialises inserts on the
   * primary key, so two nodes racing on the same proof cannot both win. A row
   * already expired but not yet swept counts as unseen and is taken over. A
   * hash twice in one batch is new only the first time (ON CONFLICT may not
   * touch a row twice in one statement, and the second is a replay anyway).
   */
  async function claimBatch(claims: readonly Claim[]): Promise<boolean[]> {
    const first = new Map<string, number>();
    claims.forEach((claim, i) => {
      const hex = claim.hash.toString('hex');
      if (!first.has(hex)) first.set(hex, i);
    });
    const hashes = [...first.keys()];
    const lifetimes = hashes.map((hex) => claims[first.get(hex)!]!.expiresInSeconds);
    const { rows } = await db.query<{ h: string }>(
      `INSERT INTO proof_replays (jti_hash, expires_at)
       SELECT decode(h, 'hex'), now() + make_interval(secs => s) FROM unnest($1::text[], $2::integer[]) AS t(h, s)
       ON CONFLICT (jti_hash) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE proof_replays.expires_at <= now()
       RETURNING encode(jti_hash, 'hex') AS h`,
      [hashes, lifetimes],
    );
    const claimed = new Set(rows.map((row) => row.h));
    return claims.map((claim, i) => {
      const hex = claim.hash.toString('hex');
      return first.get(hex) === i && claimed.has(hex);
    });
  }
  const claim = createCoalescer(claimBatch);

  return {
    /** True only for the first caller of a hash; concurrent calls share one statement (src/db/coalesce.ts). */
    claim: (hash: Buffer, expiresInSeconds: number): Promise<boolean> => claim({ hash, expiresInSeconds }),
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
