import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM encryption of secrets at rest (client secrets, TOTP seeds, private
 * keys) under keys derived with HKDF from the master secret, one per purpose.
 * The caller's `context` (e.g. the client id) is bound as additional data, so a
 * ciphertext copied onto another row does not decrypt.
 */
export type SecretPurpose = 'client-secret' | 'signing-key' | 'totp-seed';

const VERSION = 'v1';

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

export interface SecretBox {
  seal(purpose: SecretPurpose, context: string, plaintext: string): string;
  open(purpose: SecretPurpose, context: string, sealed: string): string;
  /** Keys derived for other uses (cookie signing), stable for a given master secret. */
  deriveKey(info: string, length?: number): Buffer;
}

export function createSecretBox(masterSecret: Buffer): SecretBox {
  const derive = (info: string, length = 32) => Buffer.from(hkdfSync('sha256', masterSecret, 'gatehouse', info, length));
  const keys = new Map<SecretPurpose, Buffer>();
  const keyFor = (purpose: SecretPurpose) => {
    let key = keys.get(purpose);
    if (!key) {
      key = derive(`secret-box:${purpose}`);
      keys.set(purpose, key);
    }
    return key;
  };

  return {
    seal(purpose, context, plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keyFor(purpose), iv);
      cipher.setAAD(Buffer.from(`${purpose}\0${context}`));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(purpose, context, sealed) {
      const [version, ivText, bodyText] = sealed.split('.');
      if (version !== VERSION || !ivText || !bodyText) throw new SecretBoxError('unrecognised ciphertext format');
      const body = Buffer.from(bodyText, 'base64url');
      if (body.length < 16) throw new SecretBoxError('ciphertext too short');
      const decipher = createDecipheriv('aes-256-gcm', keyFor(purpose), Buffer.from(ivText, 'base64url'));
      decipher.setAAD(Buffer.from(`${purpose}\0${context}`));
      decipher.setAuthTag(body.subarray(body.length - 16));
      try {
        return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError('ciphertext does not decrypt under this master secret (wrong key or tampered row)');
      }
    },
    deriveKey: derive,
  };
}
