/**
 * Per-minute roll-ups of the security signals the console shows (issue 16):
 * tokens issued by grant type and client, sign-ins succeeded and failed,
 * lockouts, rate-limited requests, invalid client authentications, alerts.
 *
 * The request path only increments a counter in a Map (`count`, or `observe`
 * for an audit event, which the trail already hands to its listeners
 * synchronously); a timer adds the counts to stats_minute every few seconds
 * in one statement (src/rollups/store.ts), so every node's traffic lands in
 * the same rows. A failed flush keeps its counts for the next one; `close`
 * writes what is left, so a graceful shutdown loses nothing and a crash at
 * most one interval.
 */
import type { Logger } from 'pino';

import type { Expiring } from '../artifacts/cleanup.js';
import type { RecordedEvent } from '../audit/log.js';
import type { Db } from '../db/index.js';
import { createRollupStore, type RollupRow, type RollupStore } from './store.js';

export const statsMetrics = ['tokens_issued', 'sign_ins_succeeded', 'sign_ins_failed', 'lockouts', 'rate_limited', 'client_auth_failed', 'alerts_raised'] as const;
export type StatsMetric = (typeof statsMetrics)[number];

/** The console's time ranges and the bucket each is summed into (about 60–170 points a chart). */
export const statsRanges = { '1h': { seconds: 3600, step: 60 }, '24h': { seconds: 86_400, step: 600 }, '7d': { seconds: 604_800, step: 3600 } } as const;
export type StatsRange = keyof typeof statsRanges;

export interface StatsSeries {
  metric: StatsMetric;
  /** Grant type, rate-limit class, alert rule or failure reason; '' when the metric has no breakdown. */
  label: string;
  clientId: string;
  /** One count per bucket, aligned with `StatsReport.buckets`. */
  counts: number[];
  total: number;
}

export interface StatsReport {
  range: StatsRange;
  stepSeconds: number;
  from: Date;
  until: Date;
  /** Start of each bucket, oldest first. */
  buckets: Date[];
  series: StatsSeries[];
  totals: Record<StatsMetric, number>;
}

export interface Rollups extends Expiring {
  /** Adds `n` to this minute's counter: memory only, never waits. */
  count(metric: StatsMetric, label?: string, clientId?: string, n?: number): void;
  /** The audit trail's listener: the events that are signals become counts. */
  observe(event: RecordedEvent): void;
  /** Adds every pending count to the shared table now. */
  flush(): Promise<void>;
  report(range: StatsRange, now?: Date): Promise<StatsReport>;
  /** Stops the timer and writes what is pending. */
  close(): Promise<void>;
}

export interface RollupOptions {
  db: Db;
  log: Logger;
  flushIntervalSeconds: number;
  retentionSeconds: number;
  now?: () => number;
}

/**
 * Distinct counters held between flushes. Labels come from bounded sets
 * (grant types, classes, rules, registered clients), but a flood of
 * distinct values must not grow memory or the table: past this, counts go
 * to the metric's `other` row.
 */
const maxPendingKeys = 5000;
const maxLabel = 100;

function label(value: unknown): string {
  if (typeof value !== 'string') return '';
  return value.length > maxLabel ? value.slice(0, maxLabel) : value;
}

export function createRollups(options: RollupOptions): Rollups {
  const store: RollupStore = createRollupStore(options.db);
  const now = options.now ?? Date.now;
  let pending = new Map<string, RollupRow>();

  function count(metric: StatsMetric, labelText = '', clientId = '', n = 1): void {
    const minute = Math.floor(now() / 60_000) * 60_000;
    let key = `${minute}\u0000${metric}\u0000${labelText}\u0000${clientId}`;
    let row = pending.get(key);
    if (!row && pending.size >= maxPendingKeys) {
      labelText = 'other';
      clientId = '';
      key = `${minute}\u0000${metric}\u0000other\u0000`;
      row = pending.get(key);
    }
    if (row) row.count += n;
    else pending.set(key, { minute: new Date(minute), metric, label: labelText, clientId, count: n });
  }

  async function writePending(): Promise<void> {
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      await store.add([...batch.values()]);
    } catch (error) {
      // Kept for the next flush: the counts are added then, not lost.
      for (const [key, row] of batch) {
        const current = pending.get(key);
        if (current) current.count += row.count;
        else if (pending.size < maxPendingKeys) pending.set(key, row);
      }
      throw error;
    }
  }

  // One writer at a time: a flush asked for while one runs waits for it, then writes what came since.
  let chain: Promise<void> = Promise.resolve();
  function flush(): Promise<void> {
    const run = chain.then(writePending);
    chain = run.catch(() => undefined);
    return run;
  }

  const timer = setInterval(() => {
    flush().catch((error: unknown) => options.log.warn({ err: error }, 'writing the stats roll-ups failed; kept for the next flush'));
  }, Math.max(1, options.flushIntervalSeconds) * 1000);
  timer.unref();

  return {
    count,
    observe(event) {
      switch (event.type) {
        case 'token.issued':
          count('tokens_issued', label(event.detail.grantType), label(event.clientId ?? ''));
          break;
        case 'login.success':
          count('sign_ins_succeeded');
          break;
        case 'login.failure':
          count('sign_ins_failed', label(event.detail.reason));
          break;
        case 'login.locked':
          count('lockouts');
          break;
        case 'client.authentication_failed':
          // The client id is whatever the request named: not kept, so junk ids cannot add rows.
          count('client_auth_failed', label(event.detail.endpoint));
          break;
        default:
      }
    },
    flush,
    async report(range, at = new Date(now())) {
      const { seconds, step } = statsRanges[range];
      // Buckets aligned to the step in epoch time, as the SQL sums them; the last one holds the current minute.
      const end = Math.floor(at.getTime() / 1000 / step) * step + step;
      const start = end - seconds;
      const buckets: Date[] = [];
      for (let t = start; t < end; t += step) buckets.push(new Date(t * 1000));
      const rows = await store.buckets(new Date(start * 1000), new Date(end * 1000), step);
      const series = new Map<string, StatsSeries>();
      const totals = Object.fromEntries(statsMetrics.map((m) => [m, 0])) as Record<StatsMetric, number>;
      for (const row of rows) {
        if (!(statsMetrics as readonly string[]).includes(row.metric)) continue;
        const metric = row.metric as StatsMetric;
        const key = `${metric}\u0000${row.label}\u0000${row.clientId}`;
        let s = series.get(key);
        if (!s) {
          s = { metric, label: row.label, clientId: row.clientId, counts: buckets.map(() => 0), total: 0 };
          series.set(key, s);
        }
        const index = Math.round((row.bucket.getTime() / 1000 - start) / step);
        if (index < 0 || index >= buckets.length) continue;
        s.counts[index]! += row.count;
        s.total += row.count;
        totals[metric] += row.count;
      }
      return { range, stepSeconds: step, from: new Date(start * 1000), until: new Date(end * 1000), buckets, series: [...series.values()], totals };
    },
    async deleteExpired(batchSize) {
      return store.deleteOlderThan(new Date(now() - options.retentionSeconds * 1000), batchSize);
    },
    async close() {
      clearInterval(timer);
      await flush().catch((error: unknown) => options.log.warn({ err: error }, 'writing the last stats roll-ups failed'));
    },
  };
}
