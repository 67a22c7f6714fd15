/**
 * The admin API's audit and dashboard schemas (what src/admin/routes/operations.ts
 * and routes/stats.ts read and answer); the rest are in ./schemas.ts.
 */
import { z } from 'zod';

import { timestamp, limit, cursor } from './schemas.js';

// Audit

export const auditEventSchema = z
  .strictObject({
    seq: z.number().int(),
    occurred_at: timestamp,
    type: z.string(),
    outcome: z.string().nullable(),
    actor: z.string().nullable(),
    subject: z.string().nullable(),
    client_id: z.string().nullable(),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()),
    hash: z.string(),
  })
  .meta({ id: 'AuditEvent' });
export const auditQuery = z.strictObject({
  limit,
  cursor,
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  type: z.string().max(100).optional().describe('Exact type, or a prefix ending in `.` or `*`.'),
  actor: z.string().max(300).optional().describe('Matches the actor or the subject.'),
  subject: z.string().max(300).optional().describe('Matches the subject only.'),
});
/** The search's filters without paging: the export streams every matching row. */
export const auditExportQuery = auditQuery.omit({ limit: true, cursor: true }).extend({
  format: z.enum(['jsonl', 'csv']).describe('`jsonl`: one AuditEvent JSON object a line (application/jsonl); `csv`: RFC 4180 with a header row (text/csv).'),
});
export const chainReportSchema = z
  .strictObject({
    ok: z.boolean(),
    rows: z.number().int(),
    head: z.strictObject({ seq: z.number().int(), hash: z.string() }),
    problems: z.array(z.strictObject({ seq: z.number().int(), kind: z.enum(['edited', 'deleted', 'reordered', 'truncated']), message: z.string() })),
  })
  .meta({ id: 'ChainReport' });

// Stats (issue 16: the console's dashboard)

export const statsQuery = z.strictObject({ range: z.enum(['1h', '24h', '7d']).default('1h') }).meta({ id: 'StatsQuery' });
const statsMetric = z.enum(['tokens_issued', 'sign_ins_succeeded', 'sign_ins_failed', 'lockouts', 'rate_limited', 'client_auth_failed', 'alerts_raised']);
export const statsSchema = z
  .strictObject({
    range: z.enum(['1h', '24h', '7d']),
    step_seconds: z.number().int(),
    from: timestamp,
    until: timestamp,
    buckets: z.array(timestamp).describe('Start of each bucket, oldest first; every series has one count per bucket.'),
    series: z.array(
      z.strictObject({
        metric: statsMetric,
        label: z.string().describe('Grant type (tokens_issued), failure reason, endpoint, rate-limit class or alert rule; empty when none.'),
        client_id: z.string().describe('The client, for tokens_issued; empty otherwise.'),
        counts: z.array(z.number().int()),
        total: z.number().int(),
      }),
    ),
    totals: z.record(statsMetric, z.number().int()),
    active_sessions: z.number().int().describe('Signed-in sessions alive now.'),
  })
  .meta({ id: 'Stats' });
