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
import { createHash, createHmac } from 'node:crypto';

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
  const text = canonicalJson([
    'gatehouse-audit-v1',
    content.occurredAt.toISOString(),
    content.type,
    content.outcome,
    content.actor,
    content.subject,
    content.clientId,
    content.ip,
    content.requestId,
    content.node,
    content.detail,
  ]);
  return createHash('sha256').update(text, 'utf8').digest();
}

export function chainHash(chainKey: Buffer, prevHash: Buffer, content: ChainedContent): Buffer {
  return createHmac('sha256', chainKey).update(prevHash).update(contentDigest(content)).digest();
}
