/**
 * Recovery codes: ten single-use codes shown once when a factor is set up (or
 * the codes are replaced), for when the authenticator is lost.
 *
 * Each is 10 characters of Crockford's base32 (50 random bits), written
 * `xxxxx-xxxxx`. They are stored as HMAC-SHA256 under a random key kept with
 * the factor, sealed under the master secret, not as argon2id hashes
 * (DESIGN invariant 1 names argon2id): argon2 exists to slow the guessing of
 * low-entropy secrets, and these are random; a keyed hash is unguessable
 * from a dump without the master secret, and with the master secret the
 * TOTP seed opens anyway. It also makes checking one lookup by hash instead
 * of up to ten argon2 runs per attempt, and a sealed key, unlike one derived
 * from the master secret, survives `gatehouse keys rewrap`.
 */
import { createHmac, randomBytes } from 'node:crypto';

export const recoveryCodeCount = 10;

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
const codeLength = 10;

function newCode(): string {
  // 32 symbols divide 256 evenly, so masking a random byte is unbiased.
  const chars = [...randomBytes(codeLength)].map((byte) => alphabet[byte & 31]!);
  return `${chars.slice(0, 5).join('')}-${chars.slice(5).join('')}`;
}

export function newRecoveryCodes(count = recoveryCodeCount): string[] {
  const codes = new Set<string>();
  while (codes.size < count) codes.add(newCode());
  return [...codes];
}

/** A fresh key for hashing one factor's codes. */
export function newRecoveryKey(): Buffer {
  return randomBytes(32);
}

/**
 * What a user typed, in canonical form: case, spaces and dashes ignored, and
 * the letters Crockford's alphabet leaves out read as the digits they look
 * like. Undefined when it cannot be a recovery code.
 */
export function normaliseRecoveryCode(input: string): string | undefined {
  const code = input.toLowerCase().replace(/[\s-]/g, '').replace(/[il]/g, '1').replace(/o/g, '0');
  return code.length === codeLength && [...code].every((c) => alphabet.includes(c)) ? code : undefined;
}

/** Bound to the account, so a hash copied onto another account's row matches nothing. */
export function recoveryCodeDigest(key: Buffer, accountId: string, normalisedCode: string): Buffer {
  return createHmac('sha256', key).update(`${accountId}\0${normalisedCode}`).digest();
}
