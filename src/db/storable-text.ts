/**
 * What PostgreSQL (and PGlite) can store in text and jsonb: well-formed
 * Unicode without U+0000. Anything else makes the database refuse the whole
 * statement, which would surface as a server error; the edge refuses such
 * input first (src/http/input-text.ts), and services and the library's
 * adapter check what they store from sources the edge cannot see into
 * (software statements, request objects, client assertions).
 */
/** A string that PostgreSQL can store as text: well-formed UTF-16 and no NUL. */
export function isStorableText(value: string): boolean {
  return value.isWellFormed() && !value.includes('\0');
}

/** True when a JSON-like value holds, in any key or string, text that cannot be stored. */
export function holdsUnstorableText(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return !isStorableText(value);
  if (value === null || typeof value !== 'object' || depth > 32) return false;
  if (Array.isArray(value)) return value.some((v) => holdsUnstorableText(v, depth + 1));
  for (const [key, v] of Object.entries(value)) {
    if (!isStorableText(key) || holdsUnstorableText(v, depth + 1)) return true;
  }
  return false;
}

