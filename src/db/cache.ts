/**
 * Named in-process caches of rows read on every request (DESIGN invariant 2).
 *
 * A cache holds values only while it listens for invalidations: every write
 * path calls `invalidate`, which drops the entry here and sends a NOTIFY on
 * the cache's channel through the writer's own connection, so inside a
 * transaction it is delivered only on COMMIT (another node never reloads the
 * row it is about to change). Each node drops the entry when the NOTIFY
 * arrives, and every entry when its listener reconnects (what was sent while
 * it was down is lost). Whatever else goes wrong, the TTL bounds staleness:
 * an entry is never served older than `ttlMs`.
 *
 * A load that started before an invalidation is not stored (generation
 * check), misses are never stored (a spray of made-up ids cannot fill
 * memory), and the number of entries is bounded.
 */
import type { Db, Queryable } from './db.js';

export interface CacheStats {
  hits: number;
  misses: number;
  invalidations: number;
  size: number;
}

export interface NamedCache<V> {
  readonly name: string;
  /** The cached value, or what `load` returns (stored only when defined and while listening). */
  get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined>;
  /** The cached value if there is a fresh one; for hot paths that answer without a promise when they can. */
  peek(key: string): V | undefined;
  /** Drops the key on every node; through `executor` (a transaction) the NOTIFY goes out on COMMIT. */
  invalidate(key: string, executor?: Queryable): Promise<void>;
  /** Drops every entry on every node: for a change that reaches many keys (a role's permissions). */
  invalidateAll(executor?: Queryable): Promise<void>;
  /** Subscribes to invalidations; until then (the CLI, unit tests) every get reads through. */
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): CacheStats;
}

export const cacheChannel = (name: string) => `gatehouse_cache_${name}`;

/**
 * Drops every entry (a listener reconnecting, `invalidateAll`): a value no key
 * can equal (keys are client ids, URLs and `user:`/`client:` ids) that a NOTIFY
 * payload can carry (text holds no NUL).
 */
const everything = ' *';

export function createNamedCache<V>(db: Db, name: string, options: { ttlMs: number; maxEntries?: number; now?: () => number }): NamedCache<V> {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const entries = new Map<string, { value: V; expiresAt: number }>();
  const channel = cacheChannel(name);
  let generation = 0;
  let unlisten: (() => Promise<void>) | undefined;
  const stats = { hits: 0, misses: 0, invalidations: 0 };

  const drop = (key: string) => {
    generation += 1;
    stats.invalidations += 1;
    if (key === everything) entries.clear();
    else entries.delete(key);
  };

  function peek(key: string): V | undefined {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > now()) {
      stats.hits += 1;
      return entry.value;
    }
    entries.delete(key);
    return undefined;
  }

  return {
    name,
    peek,
    async get(key, load) {
      const cached = peek(key);
      if (cached !== undefined) return cached;
      stats.misses += 1;
      const started = generation;
      const value = await load();
      if (value !== undefined && unlisten && generation === started) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!);
        entries.set(key, { value, expiresAt: now() + options.ttlMs });
      }
      return value;
    },
    async invalidate(key, executor = db) {
      drop(key);
      await executor.query('SELECT pg_notify($1, $2)', [channel, key]);
    },
    async invalidateAll(executor = db) {
      drop(everything);
      await executor.query('SELECT pg_notify($1, $2)', [channel, everything]);
    },
    async start() {
      if (unlisten) return;
      // After the listener reconnects, whatever was sent meanwhile is lost: start over.
      unlisten = await db.listen(channel, (payload) => drop(payload), () => drop(everything));
    },
    async stop() {
      const stopListening = unlisten;
      unlisten = undefined;
      entries.clear();
      await stopListening?.().catch(() => undefined);
    },
    stats: () => ({ ...stats, size: entries.size }),
  };
}
