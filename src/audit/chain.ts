/**
 * The audit chain's arithmetic, kept pure so the writer and the verifier
 * cannot disagree. A row's hash is
 *
 *   HMAC-SHA256(chainKey, prev_hash ‖ SHA-256(canonical content))
 *
 * where chainKey is derived from the master secret. A plain hash chain only
 * shows that rows changed if nobody recomputed the chain afterwards; keyed,
 * a database-only attacker (a dump, a stolen DB credential) cannot forge a
 * consistent chain, because the key is never in the database.
 */
import { createHmac, hash } from 'node:crypto';

/** prev_hash of the first row. */
export const genesisHash = Buffer.alloc(32);

/** What is hashed of a row: every column except seq (order is the chain's job), recorded_at and the hashes. */
export interface ChainedContent {
  occurredAt: Date;
  type: string;
  outcome: string | null;
  actor: string | null;
  subject: string | null;
  clientId: string | null;
  ip: string | null;
  requestId: string | null;
  node: string;
  detail: Record<string, unknown>;
}

/** A row's columns as stored and as alert webhooks send them (snake_case), detail aside. */
export function eventColumns(event: ChainedContent) {
  return {
    occurred_at: event.occurredAt.toISOString(),
    type: event.type,
    outcome: event.outcome,
    actor: event.actor,
    subject: event.subject,
    client_id: event.clientId,
    ip: event.ip,
    request_id: event.requestId,
    node: event.node,
  };
}

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function contentDigest(content: ChainedContent): Buffer {
  // The same text as canonicalJson of the array below, built without the generic walk: every
  // member but the last is a string or null (JSON.stringify is canonical for those), and the
  // row hash is computed for every event written.
  const text = [
    '["gatehouse-audit-v1"',
    JSON.stringify(content.occurredAt.toISOString()),
    JSON.stringify(content.type),
    JSON.stringify(content.outcome),
    JSON.stringify(content.actor),
    JSON.stringify(content.subject),
    JSON.stringify(content.clientId),
    JSON.stringify(content.ip),
    JSON.stringify(content.requestId),
    JSON.stringify(content.node),
    `${canonicalJson(content.detail)}]`,
  ].join(',');
  return hash('sha256', text, 'buffer');
}

export function chainHash(chainKey: Buffer, prevHash: Buffer, content: ChainedContent): Buffer {
  return createHmac('sha256', chainKey).update(prevHash).update(contentDigest(content)).digest();
}
