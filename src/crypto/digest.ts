import { createHash } from 'node:crypto';

/** SHA-256 of an identifier, as stored in place of the identifier itself. */
export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
