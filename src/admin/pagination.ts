/**
 * Cursor pagination: the cursor is opaque to callers (base64url of the last
 * item's stable key), so the ordering can change representation without a
 * new API version. A page is taken after that key in a stable order
 * (creation time, then id), so inserts between pages neither skip nor repeat.
 */
import { AdminProblem, problemTypes } from './problem.js';

export const encodeCursor = (key: string) => Buffer.from(key, 'utf8').toString('base64url');

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw new AdminProblem(400, 'The cursor is not one this API issued.', { type: problemTypes.validation, fields: ['query.cursor'] });
  return Buffer.from(cursor, 'base64url').toString('utf8');
}

/** `items` in their stable order; `keyOf` gives the sort key that the cursor carries. */
export function page<T, R>(items: readonly T[], keyOf: (item: T) => string, cursor: string | undefined, limit: number, render: (item: T) => R) {
  const after = decodeCursor(cursor);
  const start = after === undefined ? 0 : items.findIndex((item) => keyOf(item) > after);
  const slice = start < 0 ? [] : items.slice(start, start + limit);
  const last = slice.at(-1);
  const more = start >= 0 && start + limit < items.length;
  return { items: slice.map(render), next_cursor: more && last ? encodeCursor(keyOf(last)) : null };
}

/** A sort key that orders by creation time, then id: ISO dates compare as strings. */
export const createdKey = (createdAt: Date, id: string) => `${createdAt.toISOString()}|${id}`;
