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
  throw staleWrite();
}

/**
 * A versioned row's strong ETag: its version (bumped by every UPDATE) and its
 * creation time, so a resource deleted and created again under the same name
 * does not answer to the old tags.
 */
export const versionTag = (row: { version: number; createdAt: Date }) => `"${row.version}.${row.createdAt.getTime().toString(36)}"`;

export const staleWrite = () => new AdminProblem(412, 'The resource changed since you read it: read it again and reapply your change.', { type: problemTypes.staleWrite });

/**
 * The version an If-Match names when it names the current one (or `*`), for
 * the service's compare-and-set; otherwise 412 before anything is written.
 */
export function matchedVersion(ifMatch: string | undefined, current: { version: number; createdAt: Date }): number {
  const listed = (ifMatch ?? '').split(',').map((t) => t.trim());
  if (listed.includes('*') || listed.includes(versionTag(current))) return current.version;
  throw staleWrite();
}

/** A PATCH of a versioned row: If-Match against the current tag, then the service's compare-and-set (`stale`: lost the race). */
export async function updateIfMatch<T extends { version: number; createdAt: Date }>(ifMatch: string | undefined, current: T, write: (expected: number) => Promise<T | 'stale'>): Promise<T> {
  const result = await write(matchedVersion(ifMatch, current));
  if (result === 'stale') throw staleWrite();
  return result;
}
