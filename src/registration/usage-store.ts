/** SQL of `client_usage` and the queries over registered clients that expiry and per-software caps need. */
import type { Db, Queryable } from '../db/index.js';

export interface UsageStore {
  /** Records a use of a registered client; at most one write a minute per client (the expiry is counted in hours or days). */
  touch(clientId: string): Promise<void>;
  /** Registered clients whose policy expires unused ones and that are past it, oldest use first. */
  expired(limit: number): Promise<string[]>;
  countBySoftware(tx: Queryable, policy: string, softwareId: string): Promise<number>;
}

export function createUsageStore(db: Db): UsageStore {
  return {
    async touch(clientId) {
      // Only registered clients: operator-made ones never expire, and an unknown id inserts nothing.
      await db.query(
        `INSERT INTO client_usage (client_id, last_used_at)
           SELECT client_id, now() FROM clients WHERE client_id = $1 AND source = 'registration'
         ON CONFLICT (client_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
           WHERE client_usage.last_used_at < now() - interval '1 minute'`,
        [clientId],
      );
    },

    async expired(limit) {
      const result = await db.query<{ client_id: string }>(
        `SELECT c.client_id
           FROM clients c
           JOIN registration_policies p ON p.name = c.registration_policy
           LEFT JOIN client_usage u ON u.client_id = c.client_id
          WHERE c.source = 'registration'
            AND p.rules->>'expireUnusedAfterSeconds' IS NOT NULL
            AND COALESCE(u.last_used_at, c.created_at) < now() - make_interval(secs => (p.rules->>'expireUnusedAfterSeconds')::int)
          ORDER BY COALESCE(u.last_used_at, c.created_at)
          LIMIT $1`,
        [limit],
      );
      return result.rows.map((row) => row.client_id);
    },

    async countBySoftware(tx, policy, softwareId) {
      const result = await tx.query<{ count: string }>(
        `SELECT count(*) AS count FROM clients WHERE registration_policy = $1 AND metadata->>'software_id' = $2`,
        [policy, softwareId],
      );
      return Number(result.rows[0]!.count);
    },
  };
}
