/**
 * Idempotency-Key on the admin API's creates
 * (draft-ietf-httpapi-idempotency-key-header-06). The key is a Structured
 * Field String (RFC 8941 §3.3.3) chosen by the caller; it is scoped to the
 * caller (client, and user for a user's token), so nobody can replay or
 * probe another caller's requests. The first request with a key takes a
 * lease; when it succeeds its response is stored for the TTL:
 *   - the same key with the same request (method, path, body) → the stored
 *     response again, with `Idempotency-Replayed: true`;
 *   - the same key with a different request → 422 (§2.7);
 *   - the same key while the first is still being processed → 409 (§2.7);
 *   - a response that held a value shown once (a client secret, an initial
 *     access token) → 409 with `Location` of what was created: the secret is
 *     never stored, so it cannot be shown again (read the resource, or rotate).
 * A request that fails releases its key, so it can be retried with it.
 */
import { createHash } from 'node:crypto';

import type { IdempotencyStore, StoredResponse } from '../artifacts/idempotency-store.js';
import type { AdminCaller } from './bearer.js';
import { AdminProblem, problemTypes } from './problem.js';

export type { IdempotencyStore, StoredResponse };

const maxKeyLength = 255;

/** The key of an `Idempotency-Key` field value: an sf-string (RFC 8941 §3.3.3), else 400. */
export function parseIdempotencyKey(value: string): string {
  const match = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/.exec(value.trim());
  const key = match ? match[1]!.replace(/\\(["\\])/g, '$1') : undefined;
  if (!key || key.length > maxKeyLength) {
    throw new AdminProblem(400, `Idempotency-Key must be a quoted string (RFC 8941 sf-string) of 1 to ${maxKeyLength} printable characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324".`, {
      type: problemTypes.validation,
      fields: ['header.Idempotency-Key'],
    });
  }
  return key;
}

const digest = (...parts: string[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part, 'utf8').update('\u0000');
  return hash.digest();
};

export const idempotencyKeyHash = (caller: Pick<AdminCaller, 'actor'>, key: string) => digest(caller.actor.clientId, caller.actor.userId ?? '', key);
export const requestFingerprint = (method: string, path: string, body: unknown) => digest(method, path, JSON.stringify(body ?? null));

/** The response as it is kept: without the values shown once (`withheld` says whether one was there). */
export function storable(reply: StoredResponse, secretFields: readonly string[]): { response: StoredResponse; withheld: boolean } {
  if (!reply.body || typeof reply.body !== 'object' || secretFields.length === 0) return { response: reply, withheld: false };
  const body = { ...(reply.body as Record<string, unknown>) };
  let withheld = false;
  for (const field of secretFields) {
    if (body[field] !== undefined && body[field] !== null) withheld = true;
    delete body[field];
  }
  return { response: withheld ? { status: reply.status, headers: reply.headers } : reply, withheld };
}

export const idempotencyProblems = {
  mismatch: () =>
    new AdminProblem(422, 'This Idempotency-Key was used with a different request; use a new key for a new request.', { type: problemTypes.idempotency }),
  pending: () =>
    new AdminProblem(409, 'A request with this Idempotency-Key is still being processed; retry later.', { type: problemTypes.idempotencyPending, headers: { 'Retry-After': '1' } }),
  withheld: (location: string | undefined) =>
    new AdminProblem(
      409,
      'The request with this Idempotency-Key succeeded; the value it showed once is not shown again. Read the resource at Location (or rotate its secret).',
      { type: problemTypes.idempotencyWithheld, headers: location ? { Location: location } : {} },
    ),
};
