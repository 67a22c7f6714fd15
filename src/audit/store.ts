/**
 * audit_events: append a batch under the chain-head lock, read pages for
 * verification, and filter for the CLI. Plain parameterised SQL only.
 */
import type { Db } from '../db/index.js';
import { chainHash, eventColumns, type ChainedContent } from './chain.js';

export interface AuditRow extends ChainedContent {
  seq: number;
  recordedAt: Date;
  prevHash: Buffer;
  hash: Buffer;
}

interface DbRow {
  seq: number | string;
  occurred_at: Date | string;
  recorded_at: Date | string;
  type: string;
  outcome: string | null;
  actor: string | null;
  subject: string | null;
  client_id: string | null;
  ip: string | null;
  request_id: string | null;
  node: string;
  detail: Record<string, unknown> | string;
  prev_hash: Uint8Array;
  hash: Uint8Array;
}

const columns = 'seq, occurred_at, recorded_at, type, outcome, actor, subject, client_id, ip, request_id, node, detail, prev_hash, hash';

function toRow(row: DbRow): AuditRow {
  return {
    seq: Number(row.seq),
    occurredAt: new Date(row.occurred_at),
    recordedAt: new Date(row.recorded_at),
    type: row.type,
    outcome: row.outcome,
    actor: row.actor,
    subject: row.subject,
    clientId: row.client_id,
    ip: row.ip,
    requestId: row.request_id,
    node: row.node,
    detail: typeof row.detail === 'string' ? (JSON.parse(row.detail) as Record<string, unknown>) : row.detail,
    prevHash: Buffer.from(row.prev_hash),
    hash: Buffer.from(row.hash),
  };
}

export interface AuditFilter {
  since?: Date;
  until?: Date;
  /** Exact type, or a prefix ending in `.` or `*` (`login.`, `token.*`). */
  type?: string;
  /** Matches the actor or the subject: "everything about alice". */
  actor?: string;
  /** Matches the subject only: "what was done to alice". */
  subject?: string;
  /** Only rows after this seq (`audit tail --follow`). */
  afterSeq?: number;
  /** Only rows before this seq (the admin API's cursor, paging from newest to oldest). */
  beforeSeq?: number;
  limit: number;
}

/** The rows to insert after `head`, chained, as the one JSON parameter of the INSERT. */
function chainRows(events: readonly ChainedContent[], chainKey: Buffer, head: ChainHead): { rows: string; head: ChainHead } {
  let seq = head.seq;
  let prev = head.hash;
  const records = events.map((event) => {
    seq += 1;
    const hash = chainHash(chainKey, prev, event);
    const record = { seq, ...eventColumns(event), detail: event.detail, prev_hash: prev.toString('hex'), hash: hash.toString('hex') };
    prev = hash;
    return record;
  });
  return { rows: JSON.stringify(records), head: { seq, hash: prev } };
}

const insertRows = `INSERT INTO audit_events (seq, occurred_at, type, outcome, actor, subject, client_id, ip, request_id, node, detail, prev_hash, hash)
  SELECT r.seq, r.occurred_at, r.type, r.outcome, r.actor, r.subject, r.client_id, r.ip, r.request_id, r.node, r.detail,
         decode(r.prev_hash, 'hex'), decode(r.hash, 'hex')
  FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, occurred_at timestamptz, type text, outcome text, actor text, subject text,
       client_id text, ip text, request_id text, node text, detail jsonb, prev_hash text, hash text)`;

interface ChainHead {
  seq: number;
  hash: Buffer;
}

export function createAuditStore(db: Db) {
  /** The head as this process last wrote it: right whenever no other node has appended since. */
  let lastWritten: ChainHead | undefined;

  return {
    /**
     * Appends events in order and returns their seq range. Batches from
     * several nodes are chained one after another, never interleaved.
     *
     * First, one statement chained from the head this process last wrote: it
     * moves the head only if the head is still exactly that (the row lock
     * makes a concurrent writer re-check), and inserts only if it moved it.
     * One round trip instead of five; with one writer it always succeeds.
     * When another node has appended in between, nothing is written and the
     * batch is chained again under the head row's lock (FOR UPDATE), in one
     * transaction.
     */
    async append(events: readonly ChainedContent[], chainKey: Buffer): Promise<{ first: number; last: number; hash: Buffer }> {
      if (lastWritten) {
        const expected = lastWritten;
        const chained = chainRows(events, chainKey, expected);
        const { rowCount } = await db.query(
          `WITH moved AS (
             UPDATE audit_chain_head SET seq = $2, hash = $3 WHERE id AND seq = $4 AND hash = $5 RETURNING 1
           )
           ${insertRows} WHERE EXISTS (SELECT 1 FROM moved)`,
          [chained.rows, chained.head.seq, chained.head.hash, expected.seq, expected.hash],
        );
        if (rowCount === events.length) {
          lastWritten = chained.head;
          return { first: expected.seq + 1, last: chained.head.seq, hash: chained.head.hash };
        }
        lastWritten = undefined;
      }
      const written = await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ seq: number | string; hash: Uint8Array }>('SELECT seq, hash FROM audit_chain_head WHERE id FOR UPDATE');
        const row = rows[0];
        if (!row) throw new Error('audit_chain_head is missing its row');
        const head = { seq: Number(row.seq), hash: Buffer.from(row.hash) };
        const chained = chainRows(events, chainKey, head);
        await tx.query(insertRows, [chained.rows]);
        await tx.query('UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id', [chained.head.seq, chained.head.hash]);
        return { first: head.seq + 1, last: chained.head.seq, hash: chained.head.hash };
      });
      lastWritten = { seq: written.last, hash: written.hash };
      return written;
    },

    async head(): Promise<{ seq: number; hash: Buffer }> {
      const { rows } = await db.query<{ seq: number | string; hash: Uint8Array }>('SELECT seq, hash FROM audit_chain_head WHERE id');
      return { seq: Number(rows[0]?.seq ?? 0), hash: Buffer.from(rows[0]?.hash ?? new Uint8Array(32)) };
    },

    /** Rows with seq > after, in seq order: verification pages through the whole table with this. */
    async page(after: number, size: number): Promise<AuditRow[]> {
      const { rows } = await db.query<DbRow>(`SELECT ${columns} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, size]);
      return rows.map(toRow);
    },

    /** The seq of the row whose hash is this, if any: tells a moved row from a missing one. */
    async seqOfHash(hash: Buffer): Promise<number | undefined> {
      const { rows } = await db.query<{ seq: number | string }>('SELECT seq FROM audit_events WHERE hash = $1 LIMIT 1', [hash]);
      return rows[0] ? Number(rows[0].seq) : undefined;
    },

    /** Matching rows, newest `limit` of them, returned oldest first. */
    async search(filter: AuditFilter): Promise<AuditRow[]> {
      const type = filter.type?.replace(/\*$/, '');
      const prefix = type !== undefined && type.endsWith('.');
      const { rows } = await db.query<DbRow>(
        `SELECT ${columns} FROM audit_events
         WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)
           AND ($2::timestamptz IS NULL OR occurred_at < $2)
           AND ($3::text IS NULL OR (CASE WHEN $4 THEN starts_with(type, $3) ELSE type = $3 END))
           AND ($5::text IS NULL OR actor = $5 OR subject = $5)
           AND ($6::bigint IS NULL OR seq > $6)
           AND ($8::bigint IS NULL OR seq < $8)
           AND ($9::text IS NULL OR subject = $9)
         ORDER BY seq DESC LIMIT $7`,
        [filter.since ?? null, filter.until ?? null, type ?? null, prefix, filter.actor ?? null, filter.afterSeq ?? null, filter.limit, filter.beforeSeq ?? null, filter.subject ?? null],
      );
      return rows.map(toRow).reverse();
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;
