/**
 * The audit log: security events land in a keyed hash chain, tampering with
 * any row (edit, delete, reorder, truncate) is found and the row named, and a
 * graceful shutdown in the middle of load loses no event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createAuditStore } from '../../../src/audit/store.js';
import { verifyAuditChain } from '../../../src/audit/verify.js';
import { loadConfig } from '../../../src/config/index.js';
import { openDb, type Db } from '../../../src/db/index.js';
import { migrate } from '../../../src/db/migrate.js';
import { createLogger } from '../../../src/observability/logger.js';
import { loadMasterKey } from '../../../src/crypto/master-key.js';
import { createSecretBox } from '../../../src/crypto/secret-box.js';
import { freshDatabase, integrationDbKind } from '../../support/databases.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, sleep, tokenRequest } from '../../support/requests.js';

async function chainKeyOf(gh: TestGatehouse): Promise<Buffer> {
  const config = loadConfig({ NODE_ENV: 'test', GATEHOUSE_DATA_DIR: gh.database.dataDir });
  return createSecretBox((await loadMasterKey(config)).secret).deriveKey('audit-chain');
}

describe('audit log', () => {
  let gh: TestGatehouse;
  let key: Buffer;
  const verify = () => verifyAuditChain(createAuditStore(gh.app.db), [key]);

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=off,client=off' } });
    key = await chainKeyOf(gh);
    const client = await gh.createClient({ type: 'service', name: 'audited' });
    for (let i = 0; i < 6; i += 1) await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(client.clientId, client.clientSecret!) })).arrayBuffer();
    await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(client.clientId, 'wrong') })).arrayBuffer();
    await gh.app.audit.flush();
  });
  afterAll(() => gh?.close());

  it('records token issuance and failed client authentication with the request id and client IP', async () => {
    const issued = await gh.app.db.query<{ client_id: string; request_id: string; ip: string; detail: { grantType: string } }>("SELECT client_id, request_id, ip, detail FROM audit_events WHERE type = 'token.issued' ORDER BY seq");
    expect(issued.rows).toHaveLength(6);
    expect(issued.rows[0]).toMatchObject({ ip: '127.0.0.1', detail: { grantType: 'client_credentials' } });
    const requestLines = gh.logs.filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as { requestId: string });
    expect(requestLines.map((l) => l.requestId)).toContain(issued.rows[0]!.request_id);
    const failed = await gh.app.db.query("SELECT 1 FROM audit_events WHERE type = 'client.authentication_failed'");
    expect(failed.rows).toHaveLength(1);
    const seqs = await gh.app.db.query<{ seq: number | string }>('SELECT seq FROM audit_events ORDER BY seq');
    expect(seqs.rows.map((r) => Number(r.seq))).toEqual(seqs.rows.map((_r, i) => i + 1));
  });

  it('writes events carrying lone surrogates, NUL and control characters instead of failing their batch', async () => {
    // Anything a client typed can reach the audit log (a login name, a client_id); PostgreSQL's jsonb
    // refuses a lone surrogate or NUL, and one such event must not stall the events queued with it.
    gh.app.audit.record({ type: 'test.hostile', outcome: 'failure', actor: 'eve\ud800', subject: 'a\u0000b\u001bc', detail: { name: '\udc00x\u0000', nested: { deep: '\ud83d' }, list: ['\ud800'] } });
    gh.app.audit.record({ type: 'test.after', outcome: 'success', actor: 'alice' });
    await gh.app.audit.flush();
    const rows = await gh.app.db.query<{ type: string; actor: string; subject: string; detail: { name: string; nested: { deep: string } } }>("SELECT type, actor, subject, detail FROM audit_events WHERE type LIKE 'test.%' ORDER BY seq");
    expect(rows.rows.map((r) => r.type)).toEqual(['test.hostile', 'test.after']);
    expect(rows.rows[0]).toMatchObject({ actor: 'eve\ufffd', subject: 'abc', detail: { name: '\ufffdx', nested: { deep: '\ufffd' } } });
  });

  it('verifies an untouched chain', async () => {
    const report = await verify();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rows).toBeGreaterThanOrEqual(7);
  });

  it('refuses plain updates and deletes: the table is append-only', async () => {
    await expect(gh.app.db.query("UPDATE audit_events SET actor = 'x' WHERE seq = 1")).rejects.toThrow(/append-only/);
    await expect(gh.app.db.query('DELETE FROM audit_events WHERE seq = 1')).rejects.toThrow(/append-only/);
  });

  /**
   * Tampers as the table's owner would (switching the append-only trigger off
   * first), checks what verify says, then puts the rows back exactly.
   */
  async function tampered(sql: string, params: unknown[]): Promise<Awaited<ReturnType<typeof verify>>> {
    const { rows: saved } = await gh.app.db.query<Record<string, unknown>>('SELECT * FROM audit_events ORDER BY seq');
    await gh.app.db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
    await gh.app.db.query(sql, params as never[]);
    const report = await verify();
    await gh.app.db.transaction(async (tx) => {
      await tx.query('DELETE FROM audit_events');
      await tx.query(
        `INSERT INTO audit_events SELECT * FROM jsonb_populate_recordset(NULL::audit_events, $1::jsonb)`,
        [JSON.stringify(saved.map((r) => ({ ...r, prev_hash: `\\x${Buffer.from(r.prev_hash as Uint8Array).toString('hex')}`, hash: `\\x${Buffer.from(r.hash as Uint8Array).toString('hex')}` })))],
      );
    });
    await gh.app.db.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
    expect((await verify()).ok).toBe(true);
    return report;
  }

  it('names an edited row', async () => {
    // The first token issued (start-up's key creation and the client's creation come before it).
    const { rows } = await gh.app.db.query<{ seq: number | string }>("SELECT min(seq) AS seq FROM audit_events WHERE type = 'token.issued'");
    const seq = Number(rows[0]!.seq);
    const report = await tampered(`UPDATE audit_events SET detail = jsonb_set(detail, '{grantType}', '"authorization_code"') WHERE seq = $1`, [seq]);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ seq, kind: 'edited', message: expect.stringContaining(`row ${seq} (token.issued) was edited`) })]);
  });

  it('names an edited actor or timestamp, not only detail', async () => {
    const report = await tampered(`UPDATE audit_events SET occurred_at = occurred_at - interval '1 hour', ip = '10.9.9.9' WHERE seq = 2`, []);
    expect(report.problems.map((p) => [p.seq, p.kind])).toEqual([[2, 'edited']]);
  });

  it('names a deleted row', async () => {
    const report = await tampered('DELETE FROM audit_events WHERE seq = 4', []);
    expect(report.problems.map((p) => [p.seq, p.kind])).toEqual([[4, 'deleted']]);
    expect(report.problems[0]!.message).toMatch(/row 4 is missing/);
  });

  it('names reordered rows', async () => {
    // Swap everything but seq between rows 2 and 5: each row's own hash still matches its content.
    const report = await tampered(
      `UPDATE audit_events a SET occurred_at = b.occurred_at, recorded_at = b.recorded_at, type = b.type, outcome = b.outcome, actor = b.actor,
         subject = b.subject, client_id = b.client_id, ip = b.ip, request_id = b.request_id, node = b.node, detail = b.detail, prev_hash = b.prev_hash, hash = b.hash
       FROM audit_events b WHERE (a.seq, b.seq) IN ((2, 5), (5, 2))`,
      [],
    );
    expect(report.ok).toBe(false);
    expect(report.problems.every((p) => p.kind === 'reordered')).toBe(true);
    expect(report.problems.map((p) => p.seq)).toEqual(expect.arrayContaining([2, 5]));
    expect(report.problems.find((p) => p.seq === 2)!.message).toBe('row 2 is out of order: it was written after row 4');
  });

  it('notices rows cut from the end', async () => {
    const { rows } = await gh.app.db.query<{ max: number | string }>('SELECT max(seq) AS max FROM audit_events');
    const last = Number(rows[0]!.max);
    const report = await tampered('DELETE FROM audit_events WHERE seq = $1', [last]);
    expect(report.problems.map((p) => [p.seq, p.kind])).toEqual([[last, 'truncated']]);
  });

  it('cannot be re-chained by someone without the master secret', async () => {
    // An attacker who recomputes plain SHA-256 links after an edit still fails: the links are keyed.
    const report = await verifyAuditChain(createAuditStore(gh.app.db), [Buffer.alloc(32, 7)]);
    expect(report.ok).toBe(false);
    expect(report.problems.every((p) => p.kind === 'edited')).toBe(true);
  });
});

describe('several writers on one chain', () => {
  const event = (writer: string, i: number) => ({ occurredAt: new Date(), type: 'test.written', outcome: 'success', actor: writer, subject: null, clientId: null, ip: null, requestId: `${writer}-${i}`, node: writer, detail: { i } });

  it('chains batches from nodes that take turns and race, one writer at a time, with nothing lost or interleaved', async () => {
    const database = await freshDatabase(integrationDbKind());
    const config = loadConfig({ NODE_ENV: 'test', GATEHOUSE_DATA_DIR: database.dataDir, ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}) });
    const db = await openDb(config, createLogger('silent'));
    try {
      await migrate(db);
      const key = Buffer.alloc(32, 3);
      // Statements each node sends, to see which path its batches took.
      const statements: Record<string, string[]> = { a: [], b: [] };
      const nodeDb = (name: string): Db => ({
        ...db,
        query: (sql, params) => (statements[name]!.push(sql), db.query(sql, params)),
        transaction: (fn) => db.transaction((tx) => fn({ ...tx, query: (sql, params) => (statements[name]!.push(sql), tx.query(sql, params)) })),
      });
      const [a, b] = [createAuditStore(nodeDb('a')), createAuditStore(nodeDb('b'))];
      const batch = (writer: string, n: number, from: number) => Array.from({ length: n }, (_, i) => event(writer, from + i));

      await a.append(batch('a', 3, 0), key);
      statements.a = [];
      await a.append(batch('a', 3, 3), key);
      await a.append(batch('a', 3, 6), key);
      // Alone, a node appends from the head it last wrote: one statement per batch, no lock taken.
      expect(statements.a).toHaveLength(2);
      expect(statements.a.some((sql) => /FOR UPDATE/.test(sql))).toBe(false);

      await b.append(batch('b', 2, 0), key);
      statements.a = [];
      const third = await a.append(batch('a', 2, 9), key);
      // The head moved under a: its optimistic statement wrote nothing and the batch went through the lock.
      expect(statements.a.some((sql) => /FOR UPDATE/.test(sql))).toBe(true);
      expect(third.last).toBe(9 + 2 + 2);

      const racing = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).append(batch(i % 2 ? 'a' : 'b', 4, 100 + i * 4), key)));
      const ranges = racing.map((r) => [r.first, r.last] as const).sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < ranges.length; i += 1) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1);

      const report = await verifyAuditChain(createAuditStore(db), [key]);
      expect(report.problems).toEqual([]);
      expect(report.rows).toBe(9 + 2 + 2 + 12 * 4);
      // Every batch holds a contiguous range of exactly its own rows: none was split by another node's.
      expect(ranges.every(([first, last]) => last - first + 1 === 4)).toBe(true);
      const rows = await db.query<{ request_id: string }>('SELECT request_id FROM audit_events ORDER BY seq');
      expect(new Set(rows.rows.map((r) => r.request_id)).size).toBe(rows.rows.length);
    } finally {
      await db.close();
      await database.cleanup();
    }
  });
});

describe('graceful shutdown under load', () => {
  it('writes an audit event for every token it issued before stopping', async () => {
    const database = await freshDatabase(integrationDbKind());
    try {
      const gh = await startTestGatehouse({ database, env: { GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=off,client=off' } });
      const client = await gh.createClient({ type: 'service', name: 'load' });
      const auth = { authorization: basic(client.clientId, client.clientSecret!) };
      let issued = 0;
      let stopping = false;
      const workers = Array.from({ length: 8 }, async () => {
        while (!stopping || issued === 0) {
          try {
            const response = await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, auth);
            await response.arrayBuffer();
            if (response.status === 200) issued += 1;
          } catch {
            return; // the listener closed
          }
        }
      });
      await sleep(600);
      stopping = true;
      const before = issued;
      await gh.app.close();
      await Promise.all(workers);
      expect(before).toBeGreaterThan(20);

      const config = loadConfig({ NODE_ENV: 'test', GATEHOUSE_DATA_DIR: database.dataDir, ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}) });
      const db: Db = await openDb(config, createLogger('silent'));
      try {
        const { rows } = await db.query<{ n: number | string }>("SELECT count(*) AS n FROM audit_events WHERE type = 'token.issued'");
        expect(Number(rows[0]!.n)).toBe(issued);
        const key = createSecretBox((await loadMasterKey(config)).secret).deriveKey('audit-chain');
        expect((await verifyAuditChain(createAuditStore(db), [key])).ok).toBe(true);
      } finally {
        await db.close();
      }
      expect(gh.logs.some((l) => l.includes('audit log drained'))).toBe(true);
    } finally {
      await database.cleanup();
    }
  });
});
