/**
 * What a new password must be, per NIST SP 800-63B §3.1.1.2 (rev. 4; §5.1.1.2
 * in rev. 3): long enough (GATEHOUSE_PASSWORD_MIN_LENGTH, 12 by default), up
 * to 256 characters so passphrases fit, no composition rules (no "one digit
 * and one symbol"), and not a value attackers try first: a common or breached
 * password, or the account's own identifiers. The refusal says which, so the
 * user knows what to change (the same section asks for that).
 *
 * The blocklist is the ~49 000 most common passwords of breach corpora that
 * zxcvbn-ts ships offline (@zxcvbn-ts/language-common, `passwords-common`):
 * no network call, nothing about the password leaves the process.
 */
import { dictionary } from '@zxcvbn-ts/language-common';

export const maxPasswordLength = 256;

let blocklist: Set<string> | undefined;

/** Built on first use (about 30 ms), not at import: the CLI's other commands never pay for it. */
function commonPasswords(): Set<string> {
  blocklist ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return blocklist;
}

/**
 * "password1234!" is "password" with a counter on the end; a blocklist that
 * only matched the whole value would wave it through. Stripping trailing
 * digits and symbols (and leading ones) catches the habit without refusing
 * passphrases that merely contain a common word.
 */
const stem = (password: string) => password.toLowerCase().replace(/^[\d\W_]+|[\d\W_]+$/gu, '');

/** Characters as a person counts them (code points, §3.1.1.2 counts each Unicode character as one). */
const lengthOf = (password: string) => [...password].length;

export interface PasswordContext {
  minLength: number;
  /** The account's username, email and names: a password made of them is the first guess. */
  identifiers: ReadonlyArray<string | null | undefined>;
}

/** Undefined when the password may be used; otherwise the sentence that says why not. */
export function passwordRefusal(password: string, { minLength, identifiers }: PasswordContext): string | undefined {
  const length = lengthOf(password);
  if (length < minLength) return `password must be at least ${minLength} characters`;
  if (length > maxPasswordLength) return `password must be at most ${maxPasswordLength} characters`;
  const lower = password.toLowerCase();
  if (new Set(lower).size <= 2) return 'password is one or two characters repeated: choose something harder to guess';
  const common = commonPasswords();
  const stemmed = stem(password);
  if (common.has(lower) || (stemmed.length >= 4 && common.has(stemmed))) {
    return 'password is on a list of common or breached passwords: choose another';
  }
  const own = identifiers
    .flatMap((id) => (id ? [id.toLowerCase(), id.toLowerCase().split('@')[0] ?? ''] : []))
    .filter((id) => id.length >= 3);
  if (own.some((id) => lower.includes(id) && id.length * 2 >= stemmed.length)) {
    return 'password is made from your username, email or name: choose something else';
  }
  return undefined;
}
