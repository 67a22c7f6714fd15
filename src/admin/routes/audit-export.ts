/**
 * GET /admin/v1/audit/export (issue 16 §3): every audit event that matches
 * the search's filters (since, until, type, actor, subject), newest first as
 * the search pages them, streamed as JSON lines (one AuditEvent a line,
 * application/jsonl) or RFC 4180 CSV (text/csv, a header row). Read from the
 * database in batches of `batchSize` rows, so an export of the whole trail
 * holds one batch in memory; the first batch is read before the answer
 * starts, so a failure there is still a problem details answer.
 *
 * CSV cells are quoted when they hold a quote, comma or line break, and a
 * cell that a spreadsheet would run as a formula (starting with =, +, -, @,
 * tab or carriage return: a username is the client's to choose) is prefixed
 * with an apostrophe (OWASP "CSV injection").
 */
import { Readable } from 'node:stream';

import type { AuditReader } from '../../audit/reader.js';
import { auditExportQuery } from '../audit-schemas.js';
import { operation, type Operation } from '../operation.js';
import { z } from 'zod';

const batchSize = 500;

type AuditFilter = Parameters<AuditReader['search']>[0];
type AuditRow = Awaited<ReturnType<AuditReader['search']>>[number];

/** The admin API's representation of one row (the AuditEvent schema). */
export function auditEventBody(row: AuditRow) {
  return {
    seq: row.seq,
    occurred_at: row.occurredAt.toISOString(),
    type: row.type,
    outcome: row.outcome ?? null,
    actor: row.actor ?? null,
    subject: row.subject ?? null,
    client_id: row.clientId ?? null,
    ip: row.ip ?? null,
    request_id: row.requestId ?? null,
    detail: row.detail ?? {},
    hash: row.hash.toString('hex'),
  };
}

const csvColumns = ['seq', 'occurred_at', 'type', 'outcome', 'actor', 'subject', 'client_id', 'ip', 'request_id', 'detail', 'hash'] as const;

export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value as string | number);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function line(row: AuditRow, format: 'jsonl' | 'csv'): string {
  const body = auditEventBody(row);
  return format === 'jsonl' ? `${JSON.stringify(body)}\n` : `${csvColumns.map((c) => csvCell(body[c])).join(',')}\r\n`;
}

export function auditExportOperation(reader: AuditReader): Operation {
  return operation({
    id: 'exportAuditEvents', method: 'GET', path: '/audit/export', tag: 'audit', scope: 'admin:audit.read',
    summary: 'Export the matching audit events as JSON lines or CSV, streamed, newest first', query: auditExportQuery,
    responses: { 200: { description: 'Every matching event: JSON lines (one AuditEvent a line) or CSV with a header row.', schema: z.string(), media: ['application/jsonl', 'text/csv'] } },
    async handle({ query }) {
      const filter: Omit<AuditFilter, 'limit'> = {
        ...(query.since ? { since: new Date(query.since) } : {}),
        ...(query.until ? { until: new Date(query.until) } : {}),
        ...(query.type ? { type: query.type } : {}),
        ...(query.actor ? { actor: query.actor } : {}),
        ...(query.subject ? { subject: query.subject } : {}),
      };
      const first = await reader.search({ ...filter, limit: batchSize });
      async function* lines() {
        if (query.format === 'csv') yield `${csvColumns.join(',')}\r\n`;
        let batch = first;
        while (batch.length > 0) {
          for (const row of batch) yield line(row, query.format);
          if (batch.length < batchSize) return;
          batch = await reader.search({ ...filter, beforeSeq: batch.at(-1)!.seq, limit: batchSize });
        }
      }
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return {
        status: 200,
        headers: {
          'Content-Type': query.format === 'csv' ? 'text/csv; charset=utf-8; header=present' : 'application/jsonl; charset=utf-8',
          'Content-Disposition': `attachment; filename="gatehouse-audit-${stamp}.${query.format === 'csv' ? 'csv' : 'jsonl'}"`,
          'Cache-Control': 'no-store',
        },
        body: Readable.from(lines()),
      };
    },
  });
}
