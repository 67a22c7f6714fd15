import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM encryption of secrets at rest (client secrets, TOTP seeds, private
 * keys) under keys derived with HKDF from the master secret, one per purpose.
 * The caller's `context` (e.g. the client id) is bound as additional data, so a
 * ciphertext copied onto another row does not decrypt.
 *
 * Each ciphertext names the master key it was sealed under (a fingerprint, not
 * the key), so a master-secret rotation can run without downtime: nodes get the
 * new secret plus the previous one, decrypt under either, seal under the new
 * one, and `gatehouse keys rewrap` re-seals what is left under the old one.
 */
export type SecretPurpose = 'client-secret' | 'signing-key' | 'totp-seed' | 'upstream-client-secret' | 'upstream-signing-key' | 'federation-attempt' | 'console-session' | 'upstream-id-token';

const VERSION = 'v1';

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

interface MasterKey {
  id: string;
  derive(info: string, length?: number): Buffer;
  purposeKeys: Map<SecretPurpose, Buffer>;
}

function masterKey(secret: Buffer): MasterKey {
  const derive = (info: string, length = 32) => Buffer.from(hkdfSync('sha256', secret, 'gatehouse', info, length));
  return {
    // A public fingerprint: HKDF output under its own label, truncated; reveals nothing about the other derived keys.
    id: createHash('sha256').update(derive('master-key-id', 32)).digest('base64url').slice(0, 11),
    derive,
    purposeKeys: new Map(),
  };
}

export interface SecretBox {
  /** Fingerprint of the master key new ciphertexts are sealed under. */
  readonly currentKeyId: string;
  seal(purpose: SecretPurpose, context: string, plaintext: string): string;
  open(purpose: SecretPurpose, context: string, sealed: string): string;
  /** Which master key sealed this ciphertext (undefined if unrecognised). */
  keyIdOf(sealed: string): string | undefined;
  /** Keys derived for other uses (cookie signing, CSRF), current master first, then previous ones. */
  deriveKeys(info: string, length?: number): Buffer[];
  /** The current master's derived key alone. */
  deriveKey(info: string, length?: number): Buffer;
}

export function createSecretBox(current: Buffer, previous: readonly Buffer[] = []): SecretBox {
  const masters = [current, ...previous].map(masterKey);
  const primary = masters[0]!;
  const byId = new Map(masters.map((m) => [m.id, m]));
  const keyFor = (master: MasterKey, purpose: SecretPurpose) => {
    let key = master.purposeKeys.get(purpose);
    if (!key) {
      key = master.derive(`secret-box:${purpose}`);
      master.purposeKeys.set(purpose, key);
    }
    return key;
  };
  const aad = (purpose: SecretPurpose, context: string) => Buffer.from(`${purpose}\0${context}`);

  return {
    currentKeyId: primary.id,
    seal(purpose, context, plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keyFor(primary, purpose), iv);
      cipher.setAAD(aad(purpose, context));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${primary.id}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },
    open(purpose, context, sealed) {
      const [version, keyId, ivText, bodyText] = sealed.split('.');
      if (version !== VERSION || !keyId || !ivText || !bodyText) throw new SecretBoxError('unrecognised ciphertext format');
      const master = byId.get(keyId);
      if (!master) throw new SecretBoxError('ciphertext was sealed under a master key this node does not have (set GATEHOUSE_MASTER_KEY_PREVIOUS during a rotation)');
      const body = Buffer.from(bodyText, 'base64url');
      if (body.length < 16) throw new SecretBoxError('ciphertext too short');
      const decipher = createDecipheriv('aes-256-gcm', keyFor(master, purpose), Buffer.from(ivText, 'base64url'));
      decipher.setAAD(aad(purpose, context));
      decipher.setAuthTag(body.subarray(body.length - 16));
      try {
        return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError('ciphertext does not decrypt under this master secret (wrong key or tampered row)');
      }
    },
    keyIdOf(sealed) {
      const [version, keyId] = sealed.split('.');
      return version === VERSION ? keyId : undefined;
    },
    deriveKeys: (info, length) => masters.map((m) => m.derive(info, length)),
    deriveKey: (info, length) => primary.derive(info, length),
  };
}
