/**
 * Where rate-limit and alert counters live: rate-limiter-flexible's
 * RateLimiterPostgres on the shared database when there is one (every node
 * counts against the same rows), its in-memory limiter on the embedded
 * database (one process). The Postgres limiter talks to our Db seam through a
 * three-line adapter, so it needs no pool of its own; a store that errors or
 * takes over a second falls back to a per-node in-memory limiter (the
 * library's insurance) rather than failing the request.
 */
import { RateLimiterMemory, RateLimiterPostgres, RLWrapperTimeouts, type RateLimiterAbstract } from 'rate-limiter-flexible';

import type { Db } from './index.js';

export const counterTable = 'rate_limit_counters';

export interface LimiterFactory {
  /** True when counters are shared by every node (PostgreSQL). */
  readonly shared: boolean;
  limiter(name: string, points: number, windowSeconds: number): RateLimiterAbstract;
}

export function createLimiterFactory(db: Db, options: { timeoutMs?: number } = {}): LimiterFactory {
  if (db.kind !== 'postgres') {
    return {
      shared: false,
      limiter: (name, points, windowSeconds) => new RateLimiterMemory({ keyPrefix: name, points, duration: windowSeconds }),
    };
  }
  // The library calls `query({ text, values, name })` on a pool; ours takes (sql, params).
  const storeClient = { query: (q: { text: string; values?: unknown[] }) => db.query(q.text, (q.values ?? []) as never[]) };
  let sweeper = true;
  return {
    shared: true,
    limiter(name, points, windowSeconds) {
      const store = new RateLimiterPostgres({
        storeClient,
        storeType: 'pool',
        tableName: counterTable,
        tableCreated: true, // migrations/0004 creates it
        // One limiter per process deletes rows expired over an hour ago (the library's sweep covers the whole table).
        clearExpiredByTimeout: sweeper,
        keyPrefix: name,
        points,
        duration: windowSeconds,
      });
      sweeper = false;
      return new RLWrapperTimeouts({
        limiter: store,
        timeoutMs: options.timeoutMs ?? 1000,
        insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points, duration: windowSeconds }),
      });
    },
  };
}

/** A cluster-wide count of events per key within a fixed window (alert thresholds). */
export function windowCounter(factory: LimiterFactory, name: string, windowSeconds: number) {
  const limiter = factory.limiter(name, 2_000_000_000, windowSeconds);
  return {
    async hit(key: string): Promise<number> {
      const result = await limiter.consume(key, 1);
      return result.consumedPoints;
    },
  };
}
