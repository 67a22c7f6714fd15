/**
 * Strong ETags of a representation (RFC 9110 §8.8.3): the SHA-256 of its JSON.
 * A write whose If-Match differs from the current representation's tag is a
 * 412: someone changed it since the caller read it (no lost update).
 */
import { createHash } from 'node:crypto';

import { AdminProblem, problemTypes } from './problem.js';

export const etagOf = (representation: unknown) => `"${createHash('sha256').update(JSON.stringify(representation)).digest('base64url')}"`;

export function checkIfMatch(ifMatch: string | undefined, current: unknown): void {
  const tag = etagOf(current);
  const listed = (ifMatch ?? '').split(',').map((t) => t.trim());
  if (listed.includes('*') || listed.includes(tag)) return;
  throw new AdminProblem(412, 'The resource changed since you read it: read it again and reapply your change.', { type: problemTypes.staleWrite });
}
