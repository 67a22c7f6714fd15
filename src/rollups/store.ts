/**
 * stats_minute: per-minute counts summed over every node. A flush is one
 * statement: the batch arrives as one JSON parameter and each row is added to
 * what is there (ON CONFLICT … count + excluded.count), so two nodes flushing
 * the same minute at once both land: the row lock serialises the two
 * additions, neither overwrites the other.
 */
import type { Db } from '../db/index.js';

export interface RollupRow {
  minute: Date;
  metric: string;
  label: string;
  clientId: string;
  count: number;
}

export interface BucketRow {
  bucket: Date;
  metric: string;
  label: string;
  clientId: string;
  count: number;
}

export interface RollupStore {
  add(rows: readonly RollupRow[]): Promise<void>;
  /** Sums per `stepSeconds` bucket of minutes in [from, until). */
  buckets(from: Date, until: Date, stepSeconds: number): Promise<BucketRow[]>;
  deleteOlderThan(cutoff: Date, batchSize: number): Promise<number>;
}

export function createRollupStore(db: Db): RollupStore {
  return {
    async add(rows) {
      if (rows.length === 0) return;
      // Ordered by key, so two nodes' overlapping batches lock rows in the same order (no deadlock).
      const sorted = [...rows].sort((a, b) => a.minute.getTime() - b.minute.getTime() || a.metric.localeCompare(b.metric) || a.label.localeCompare(b.label) || a.clientId.localeCompare(b.clientId));
      const json = JSON.stringify(sorted.map((r) => ({ minute: r.minute.toISOString(), metric: r.metric, label: r.label, client_id: r.clientId, count: r.count })));
      await db.query(
        `INSERT INTO stats_minute (minute, metric, label, client_id, count)
           SELECT r.minute, r.metric, r.label, r.client_id, r.count
             FROM jsonb_to_recordset($1::jsonb) AS r(minute timestamptz, metric text, label text, client_id text, count bigint)
         ON CONFLICT (minute, metric, label, client_id) DO UPDATE SET count = stats_minute.count + excluded.count`,
        [json],
      );
    },

    async buckets(from, until, stepSeconds) {
      const { rows } = await db.query<{ bucket: Date | string; metric: string; label: string; client_id: string; count: number | string }>(
        `SELECT to_timestamp(floor(extract(epoch FROM minute) / $3) * $3) AS bucket, metric, label, client_id, sum(count) AS count
           FROM stats_minute
          WHERE minute >= $1 AND minute < $2
          GROUP BY 1, 2, 3, 4
          ORDER BY 1`,
        [from, until, stepSeconds],
      );
      return rows.map((r) => ({ bucket: new Date(r.bucket), metric: r.metric, label: r.label, clientId: r.client_id, count: Number(r.count) }));
    },

    async deleteOlderThan(cutoff, batchSize) {
      // The primary key leads with the minute, so both the scan and the delete are index range reads.
      const { rowCount } = await db.query(
        `DELETE FROM stats_minute WHERE (minute, metric, label, client_id) IN (
           SELECT minute, metric, label, client_id FROM stats_minute WHERE minute < $1 LIMIT $2)`,
        [cutoff, batchSize],
      );
      return rowCount;
    },
  };
}
