/** /admin/v1/keys and /audit: thin handlers over their services. */
import type { AuditReader } from '../../audit/reader.js';
import type { Services } from '../../services.js';
import { operation, type Operation } from '../operation.js';
import { auditEventSchema, auditQuery, chainReportSchema } from '../audit-schemas.js';
import { decodeCursor, encodeCursor } from '../pagination.js';
import { AdminProblem, problemTypes } from '../problem.js';
import { auditEventBody, auditExportOperation } from './audit-export.js';
import {
  keyListSchema,
  kidParams,
  pageOf,
  rotatedKeySchema,
  rotateKeyBody,
  withdrawnKeySchema,
} from '../schemas.js';

const iso = (d: Date | undefined | null) => (d ? d.toISOString() : null);

export function keyOperations(services: Pick<Services, 'keystore'>): Operation[] {
  const { keystore } = services;
  const withdrawn = { 200: { description: 'The key and the successor that signs in its place, if one was staged.', schema: withdrawnKeySchema } };
  return [
    operation({
      id: 'listKeys', method: 'GET', path: '/keys', tag: 'keys', scope: 'admin:keys.read', summary: 'Signing keys and their states (public facts only)',
      responses: { 200: { description: 'Every stored key.', schema: keyListSchema } },
      async handle() {
        const items = (await keystore.list()).map((k) => ({
          kid: k.kid,
          alg: k.alg,
          state: k.state,
          created_at: k.createdAt.toISOString(),
          activate_at: k.activateAt.toISOString(),
          superseded_at: iso(k.supersededAt),
          unpublish_at: iso(k.unpublishAt),
        }));
        return { status: 200, body: { items } };
      },
    }),
    operation({
      id: 'rotateKey', method: 'POST', path: '/keys/rotate', tag: 'keys', scope: 'admin:keys.write', summary: 'Stage a new signing key', body: rotateKeyBody, audited: true, idempotent: true,
      responses: { 201: { description: 'The new key, published now, signing from activate_at.', schema: rotatedKeySchema } },
      async handle({ body, caller }) {
        const r = await keystore.rotate(caller.actor, { ...(body.alg ? { alg: body.alg } : {}), ...(body.immediate !== undefined ? { immediate: body.immediate } : {}) });
        return { status: 201, body: { kid: r.kid, alg: r.alg, activate_at: r.activateAt.toISOString() } };
      },
    }),
    operation({
      id: 'retireKey', method: 'POST', path: '/keys/{kid}/retire', tag: 'keys', scope: 'admin:keys.write', summary: 'Stop a key signing; it stays published until its tokens expire',
      params: kidParams, audited: true, responses: withdrawn,
      async handle({ params, caller }) {
        const { successor } = await keystore.retire(caller.actor, params.kid);
        return { status: 200, body: { kid: params.kid, successor: successor?.kid ?? null } };
      },
    }),
    operation({
      id: 'revokeKey', method: 'POST', path: '/keys/{kid}/revoke', tag: 'keys', scope: 'admin:keys.write', summary: 'Remove a compromised key from the JWKS at once',
      params: kidParams, audited: true, responses: withdrawn,
      async handle({ params, caller }) {
        const { successor } = await keystore.revoke(caller.actor, params.kid);
        return { status: 200, body: { kid: params.kid, successor: successor?.kid ?? null } };
      },
    }),
  ];
}

export function auditOperations(reader: AuditReader): Operation[] {
  return [
    operation({
      id: 'searchAuditEvents', method: 'GET', path: '/audit/events', tag: 'audit', scope: 'admin:audit.read', summary: 'Search audit events, newest first', query: auditQuery,
      responses: { 200: { description: 'A page of events.', schema: pageOf(auditEventSchema, 'AuditEventPage') } },
      async handle({ query }) {
        const before = decodeCursor(query.cursor);
        if (before !== undefined && !/^\d{1,18}$/.test(before)) throw new AdminProblem(400, 'The cursor is not one this API issued.', { type: problemTypes.validation, fields: ['query.cursor'] });
        const rows = await reader.search({
          ...(query.since ? { since: new Date(query.since) } : {}),
          ...(query.until ? { until: new Date(query.until) } : {}),
          ...(query.type ? { type: query.type } : {}),
          ...(query.actor ? { actor: query.actor } : {}),
          ...(query.subject ? { subject: query.subject } : {}),
          ...(before !== undefined ? { beforeSeq: Number(before) } : {}),
          limit: query.limit + 1,
        });
        const items = rows.slice(0, query.limit).map(auditEventBody);
        const last = items.at(-1);
        return { status: 200, body: { items, next_cursor: rows.length > query.limit && last ? encodeCursor(String(last.seq)) : null } };
      },
    }),
    operation({
      id: 'verifyAuditChain', method: 'POST', path: '/audit/verify', tag: 'audit', scope: 'admin:audit.read', summary: 'Verify the hash chain; names tampered rows',
      responses: { 200: { description: 'The verification report.', schema: chainReportSchema } },
      async handle() {
        const report = await reader.verify();
        return { status: 200, body: { ok: report.ok, rows: report.rows, head: report.head, problems: report.problems } };
      },
    }),
    auditExportOperation(reader),
  ];
}
