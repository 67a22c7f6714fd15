/**
 * What an API key looks like: `ghk_` + 30 random base62 characters + a
 * 6-character base62 CRC32 of everything before it, GitHub's token format
 * (github.blog 2021-04-05 "Behind GitHub's new authentication token
 * formats"). The prefix lets secret scanners find a leaked key with a
 * pattern; the checksum lets them (and Gatehouse, before any query) tell a
 * real key from a look-alike without asking anyone. 30 base62 characters are
 * 178 bits of randomness; the checksum adds none and hides none.
 */
import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const apiKeyPrefix = 'ghk_';
const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const randomLength = 30;
const checksumLength = 6;
/** What a scanner matches (also the shape `isWellFormed` checks before the checksum). */
export const apiKeyPattern = /^ghk_[0-9A-Za-z]{36}$/;

function base62(value: number, width: number): string {
  let out = '';
  let rest = value >>> 0;
  while (rest > 0) {
    out = alphabet[rest % 62]! + out;
    rest = Math.floor(rest / 62);
  }
  return out.padStart(width, '0');
}

const checksumOf = (body: string) => base62(crc32(body), checksumLength);

export function generateApiKey(): string {
  let random = '';
  for (let i = 0; i < randomLength; i += 1) random += alphabet[randomInt(62)];
  const body = `${apiKeyPrefix}${random}`;
  return `${body}${checksumOf(body)}`;
}

/** The prefix, length, alphabet and checksum are right: worth a database lookup. */
export function isWellFormed(value: string): boolean {
  if (!apiKeyPattern.test(value)) return false;
  const body = value.slice(0, -checksumLength);
  return checksumOf(body) === value.slice(-checksumLength);
}
