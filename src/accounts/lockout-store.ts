import type { Db } from '../db/index.js';

export interface Reserved {
  failures: number;
  /** The window's start as the database prints it: exact to the microsecond, unlike a JS Date, so it can be matched on. */
  window: string;
}

interface Row {
  failures: number;
  window: string;
}

const toReserved = (row: Row | undefined): Reserved | undefined => (row ? { failures: row.failures, window: row.window } : undefined);

/**
 * The `login_failures` table: one fixed-window counter per bucket. Every
 * statement here is a single conditional write, so the database, not the
 * caller, decides whether an attempt fits under the limit.
 */
export function createLockoutStore(db: Db) {
  return {
    /**
     * Counts one attempt against `bucket` unless `limit` attempts already
     * count in the current window. The upsert takes the row lock and
     * re-evaluates its WHERE against the latest row, so of any number of
     * parallel calls at most `limit` return a row per window.
     */
    async reserve(bucket: string, limit: number, windowSeconds: number): Promise<Reserved | undefined> {
      const { rows } = await db.query<Row>(
        `INSERT INTO login_failures AS f (bucket, failures, window_started_at) VALUES ($1, 1, now())
         ON CONFLICT (bucket) DO UPDATE SET
           failures = CASE WHEN f.window_started_at <= now() - $3::integer * interval '1 second' THEN 1 ELSE f.failures + 1 END,
           window_started_at = CASE WHEN f.window_started_at <= now() - $3::integer * interval '1 second' THEN now() ELSE f.window_started_at END
         WHERE f.window_started_at <= now() - $3::integer * interval '1 second' OR f.failures < $2::integer
         RETURNING failures, window_started_at::text AS window`,
        [bucket, limit, windowSeconds],
      );
      return toReserved(rows[0]);
    },

    /** Gives back an attempt that succeeded, in the window it was counted in (a new window owes nothing). */
    async release(bucket: string, window: string): Promise<void> {
      await db.query(
        'UPDATE login_failures SET failures = failures - 1 WHERE bucket = $1 AND window_started_at = $2::timestamptz AND failures > 0',
        [bucket, window],
      );
    },

    /** Seconds until the bucket's current window ends (0 when it has none). */
    async secondsLeft(bucket: string, windowSeconds: number): Promise<number> {
      const { rows } = await db.query<{ seconds: number | string | null }>(
        `SELECT ceil(extract(epoch FROM (window_started_at + $2::integer * interval '1 second' - now()))) AS seconds
         FROM login_failures WHERE bucket = $1`,
        [bucket, windowSeconds],
      );
      return Math.max(0, Number(rows[0]?.seconds ?? 0));
    },

    async find(bucket: string, windowSeconds: number): Promise<{ failures: number; endsAt: Date } | undefined> {
      const { rows } = await db.query<{ failures: number; ends_at: Date }>(
        `SELECT failures, window_started_at + $2::integer * interval '1 second' AS ends_at FROM login_failures
         WHERE bucket = $1 AND window_started_at > now() - $2::integer * interval '1 second'`,
        [bucket, windowSeconds],
      );
      const row = rows[0];
      return row ? { failures: row.failures, endsAt: new Date(row.ends_at) } : undefined;
    },

    async clear(buckets: readonly string[]): Promise<number> {
      const { rowCount } = await db.query('DELETE FROM login_failures WHERE bucket = ANY($1::text[])', [buckets]);
      return rowCount;
    },

    /** Rows whose window has ended carry no information; dropping them keeps the table (and the IPs in it) small. */
    async deleteExpired(windowSeconds: number): Promise<number> {
      const { rowCount } = await db.query(
        "DELETE FROM login_failures WHERE window_started_at <= now() - $1::integer * interval '1 second'",
        [windowSeconds],
      );
      return rowCount;
    },
  };
}

export type LockoutStore = ReturnType<typeof createLockoutStore>;
