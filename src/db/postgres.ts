import { createHash } from 'node:crypto';

import pg from 'pg';
import type { Logger } from 'pino';

import type { Db, Queryable, QueryResult, SqlValue } from './db.js';

// int8 (COUNT(*), bigserial) as a JS number: every such value here stays far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

const statementNames = new Map<string, string | null>();

/**
 * The name a statement is prepared under on each connection, or null to send
 * it unnamed. A prepared statement is parsed and planned once per connection
 * instead of on every call: half the server's CPU for the short lookups that
 * make up most traffic (bench/RESULTS.md). Statements with a `*` are left
 * unnamed: a `SELECT *` prepared before another node's migration added a
 * column would fail with "cached plan must not change result type" during a
 * rolling upgrade. Named statements need session semantics on the connection,
 * which Gatehouse requires anyway (docs/operations.md, PgBouncer).
 */
function statementName(sql: string, params: readonly SqlValue[]): string | undefined {
  if (params.length === 0) return undefined;
  let name = statementNames.get(sql);
  // Gatehouse's SQL is a fixed set of texts; the bound only guards against a future caller building SQL per call.
  if (name === undefined && statementNames.size >= 500) return undefined;
  if (name === undefined) {
    name = sql.includes('*') ? null : `gh_${createHash('sha256').update(sql).digest('base64url').slice(0, 22)}`;
    statementNames.set(sql, name);
  }
  return name ?? undefined;
}

function queryable(client: pg.Pool | pg.PoolClient, prepare: boolean): Queryable {
  return {
    async query<Row>(sql: string, params: readonly SqlValue[] = []): Promise<QueryResult<Row>> {
      // Behind a transaction pooler the next statement may reach another server connection, where the name is unknown.
      const name = prepare ? statementName(sql, params) : undefined;
      const result = await client.query(name ? { name, text: sql, values: params as unknown[] } : { text: sql, values: params as unknown[] });
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
    async exec(script: string) {
      await client.query(script);
    },
  };
}

/**
 * One LISTEN connection per process, re-established after the server restarts
 * so notifications resume without a Gatehouse restart. Missed notifications are
 * covered by each subscriber's periodic check (DESIGN invariant 2).
 */
class Listener {
  private client: pg.Client | undefined;
  private readonly handlers = new Map<string, Set<(payload: string) => void>>();
  private readonly resubscribed = new Set<() => void>();
  private everConnected = false;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(private readonly connectionString: string, private readonly log: Logger) {}

  async subscribe(channel: string, handler: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      await this.ensureConnected();
      await this.client?.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    set.add(handler);
    if (onResubscribed) this.resubscribed.add(onResubscribed);
    return async () => {
      set.delete(handler);
      if (onResubscribed) this.resubscribed.delete(onResubscribed);
      if (set.size === 0) {
        this.handlers.delete(channel);
        await this.client?.query(`UNLISTEN ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
      }
    };
  }

  private async ensureConnected(): Promise<void> {
    if (this.client) return;
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: 'gatehouse-listener' });
    client.on('notification', (message) => {
      for (const handler of this.handlers.get(message.channel) ?? []) handler(message.payload ?? '');
    });
    const lost = (error?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.log.warn({ err: error?.message }, 'database listener connection lost; reconnecting');
      this.scheduleReconnect(1000);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    await client.connect();
    for (const channel of this.handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    this.client = client;
    if (this.everConnected) {
      this.log.info('database listener reconnected');
      for (const callback of this.resubscribed) callback();
    }
    this.everConnected = true;
  }

  private scheduleReconnect(delayMs: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.ensureConnected().catch(() => this.scheduleReconnect(Math.min(delayMs * 2, 15_000)));
    }, delayMs);
    this.retryTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

export interface PostgresOptions {
  poolMax: number;
  log: Logger;
  /** A direct connection for LISTEN and advisory locks, when `connectionString` goes through a transaction pooler. */
  directUrl?: string | undefined;
  /** Named (prepared) statements; off behind a transaction pooler. */
  prepareStatements?: boolean;
}

export function openPostgres(connectionString: string, options: PostgresOptions): Db {
  const prepare = options.prepareStatements ?? true;
  const pool = new pg.Pool({
    connectionString,
    max: options.poolMax,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    application_name: 'gatehouse',
  });
  // Without a listener an idle client's error (a server restart) would crash the process.
  pool.on('error', (error) => options.log.warn({ err: error.message }, 'idle database connection failed'));
  const sessionUrl = options.directUrl ?? connectionString;
  const listener = new Listener(sessionUrl, options.log);
  // Session-level advisory locks need a session that stays with this process: the main pool's, unless that is pooled per transaction.
  const lockPool = options.directUrl
    ? new pg.Pool({ connectionString: options.directUrl, max: 3, idleTimeoutMillis: 10_000, connectionTimeoutMillis: 5_000, application_name: 'gatehouse-locks' })
    : pool;
  if (lockPool !== pool) lockPool.on('error', (error) => options.log.warn({ err: error.message }, 'idle direct database connection failed'));

  return {
    kind: 'postgres',
    ...queryable(pool, prepare),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const value = await fn(queryable(client, prepare));
        await client.query('COMMIT');
        return value;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    async withAdvisoryLock(lockId, fn, { wait = true } = {}) {
      // Session-level lock on one pooled connection, released explicitly before the
      // connection returns to the pool (or dropped with the connection if the node dies).
      const client = await lockPool.connect();
      let broken = false;
      try {
        if (wait) {
          await client.query('SELECT pg_advisory_lock($1)', [lockId]);
        } else {
          const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [lockId]);
          if (!rows[0]?.locked) return { acquired: false };
        }
        try {
          return { acquired: true, value: await fn() };
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [lockId]).catch(() => {
            broken = true;
          });
        }
      } finally {
        client.release(broken);
      }
    },
    listen: (channel, onPayload, onResubscribed) => listener.subscribe(channel, onPayload, onResubscribed),
    async notify(channel, payload) {
      await pool.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async close() {
      await listener.close();
      if (lockPool !== pool) await lockPool.end();
      await pool.end();
    },
  };
}
