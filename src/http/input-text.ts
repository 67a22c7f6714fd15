/**
 * Text that cannot be stored: a NUL (PostgreSQL text and jsonb refuse U+0000)
 * or anything that is not well-formed Unicode (an unpaired surrogate, bytes
 * that are not UTF-8: overlong forms, encoded surrogates, truncated
 * sequences), and percent-encoding that is not (`%zz`, a lone `%`). Checked
 * once at the edge (DESIGN invariant 6) in everything a request can carry to
 * the database: the path, the query, a form or JSON body and Basic
 * credentials; and again where the library stores what it parsed itself
 * (src/oidc/adapter.ts), for values inside a request object or a software
 * statement.
 */
import { holdsUnstorableText } from '../db/storable-text.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

const hex = (c: number) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);

/**
 * Percent-decodes one `application/x-www-form-urlencoded` component (`+` is a
 * space) strictly; undefined when the encoding is broken or the result is not
 * storable text.
 */
export function decodeFormComponent(raw: Uint8Array): string | undefined {
  const bytes = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i]!;
    if (c === 0x25) {
      const hi = hex(raw[i + 1] ?? 0);
      const lo = hex(raw[i + 2] ?? 0);
      if (hi < 0 || lo < 0) return undefined;
      bytes[n++] = hi * 16 + lo;
      i += 2;
    } else {
      bytes[n++] = c === 0x2b ? 0x20 : c;
    }
  }
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(0, n));
  } catch {
    return undefined;
  }
  return text.includes('\0') ? undefined : text;
}

/**
 * Whether one form component decodes (strictly, as decodeFormComponent) to
 * storable text, without allocating unless a byte past ASCII needs UTF-8
 * validation: the token endpoint checks every component and the Basic
 * credentials of every request (a TextDecoder call per component was 5–9 µs
 * a request).
 */
export function isStorableFormComponent(raw: Uint8Array, start = 0, end = raw.length): boolean {
  let ascii = true;
  for (let i = start; i < end; i += 1) {
    let c = raw[i]!;
    if (c === 0x25) {
      const hi = i + 1 < end ? hex(raw[i + 1]!) : -1;
      const lo = i + 2 < end ? hex(raw[i + 2]!) : -1;
      if (hi < 0 || lo < 0) return false;
      c = hi * 16 + lo;
      i += 2;
    }
    if (c === 0) return false;
    if (c >= 0x80) ascii = false;
  }
  return ascii || decodeFormComponent(raw.subarray(start, end)) !== undefined;
}

/** Printable ASCII without `%`: nothing to decode, nothing to refuse (almost every request). */
function plain(raw: Uint8Array): boolean {
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw[i]!;
    if (c < 0x20 || c > 0x7e || c === 0x25) return false;
  }
  return true;
}

/**
 * The first parameter of a form-encoded string (a query or a body) whose name
 * or value is not storable text: its name as far as it could be read
 * (`undefined` name when the name itself is the problem). Null when all are fine.
 */
export function unstorableFormParameter(raw: Uint8Array): { name: string | undefined } | null {
  if (plain(raw)) return null;
  // Index arithmetic, not subarrays: this runs on every form body that holds a `%`.
  let start = 0;
  while (start <= raw.length) {
    let end = start;
    while (end < raw.length && raw[end] !== 0x26) end += 1;
    let eq = start;
    while (eq < end && raw[eq] !== 0x3d) eq += 1;
    if (!isStorableFormComponent(raw, start, eq)) return { name: undefined };
    if (eq < end && !isStorableFormComponent(raw, eq + 1, end)) return { name: decodeFormComponent(raw.subarray(start, eq)) };
    start = end + 1;
  }
  return null;
}

/** A path whose percent-encoding decodes to storable text (route parameters reach lookups). */
export function isStorablePath(path: string): boolean {
  const raw = Buffer.from(path, 'latin1');
  return plain(raw) || decodeFormComponent(Buffer.from(path.replace(/\+/g, '%2B'), 'latin1')) !== undefined;
}

/**
 * RFC 6749 §2.3.1 Basic credentials: base64 of `id:secret`, each form-encoded.
 * True when either part is not storable text once decoded.
 */
export function basicCredentialsUnstorable(authorization: string): boolean {
  const match = /^Basic\s+(\S*)\s*$/i.exec(authorization);
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64');
  const colon = decoded.indexOf(0x3a);
  if (colon < 0) return false; // malformed Basic: the library answers it
  return !isStorableFormComponent(decoded.subarray(0, colon)) || !isStorableFormComponent(decoded.subarray(colon + 1));
}

/**
 * A JSON body: its bytes must be UTF-8 without NUL, and its strings (only a
 * `\u` escape can spell a NUL or a lone surrogate inside valid UTF-8) storable.
 * JSON that does not parse is left to the endpoint's own parser to refuse.
 */
export function jsonBodyUnstorable(raw: Uint8Array): boolean {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return true;
  }
  if (text.includes('\0')) return true;
  if (!text.includes('\\u')) return false;
  try {
    return holdsUnstorableText(JSON.parse(text));
  } catch {
    return false;
  }
}
