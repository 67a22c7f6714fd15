/**
 * The one storage seam every service talks to. Two implementations exist:
 * PostgreSQL through a pg Pool (production, many nodes) and embedded PGlite
 * (the zero-setup default, one process). Services never see which one.
 */
export type SqlValue = string | number | boolean | null | Date | Buffer | Uint8Array | object;

export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Queryable {
  /** Parameterised SQL only ($1, $2 …); never build SQL from strings. */
  query<Row = Record<string, unknown>>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<Row>>;
  /** Runs a trusted multi-statement script with no parameters: migrations only. */
  exec(script: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /** Runs fn inside BEGIN … COMMIT on one connection; rolls back when fn throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs fn while holding a session-level advisory lock on a dedicated
   * connection. With wait=false returns { acquired: false } at once when another
   * node holds it, which is how "only one node runs this" jobs are elected.
   */
  withAdvisoryLock<T>(lockId: number, fn: () => Promise<T>, options?: { wait?: boolean }): Promise<{ acquired: true; value: T } | { acquired: false }>;
  /**
   * Subscribes to a NOTIFY channel; returns an unsubscribe function. Notifications sent while the
   * listening connection was down are lost: `onResubscribed` runs after each reconnection so the
   * subscriber can re-read what it follows instead of waiting for its periodic check.
   */
  listen(channel: string, onPayload: (payload: string) => void, onResubscribed?: () => void): Promise<() => Promise<void>>;
  notify(channel: string, payload: string): Promise<void>;
  /** True when a trivial query succeeds within the pool's timeout. */
  ping(): Promise<boolean>;
  /** Connection pool counters for metrics; undefined for the embedded database (no pool). */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/** Advisory lock ids, one per cluster-wide job; kept in one place so they never collide. */
export const advisoryLocks = {
  migrate: 7_400_001,
  expiredRowCleanup: 7_400_002,
  keyRotation: 7_400_003,
} as const;
