import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

import { advisoryLocks, type Db } from '../db/index.js';
import type { SecretBox } from '../security/secret-box.js';
import { createSigningKeyStore, type KeyState, type SigningKeyRow } from './store.js';

export const signingAlgorithms = ['ES256', 'RS256', 'PS256', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof signingAlgorithms)[number];

/** Algorithms every installation can sign with from first start: ES256 by default, RS256 for RPs that only know RSA. */
export const bootstrapAlgorithms: readonly SigningAlgorithm[] = ['ES256', 'RS256'];

export interface PrivateJwk extends JWK {
  kid: string;
  alg: string;
  use: 'sig';
}

export interface KeySet {
  /** Private JWKs handed to oidc-provider; non-active keys carry key_ops ['verify'] so they are published but never sign. */
  jwks: { keys: PrivateJwk[] };
  /** A fingerprint of the set (kids and states) so a node can tell whether its provider is current. */
  version: string;
}

export class KeystoreError extends Error {
  override name = 'KeystoreError';
}

async function generate(alg: SigningAlgorithm): Promise<{ kid: string; publicJwk: JWK; privateJwk: JWK }> {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : alg === 'ES256' ? { extractable: true } : { modulusLength: 2048, extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, options);
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { kid, publicJwk: { ...publicJwk, kid, alg, use: 'sig' }, privateJwk: { ...privateJwk, kid, alg, use: 'sig' } };
}

export function createKeystore(db: Db, secrets: SecretBox) {
  const store = createSigningKeyStore(db);

  function decrypt(row: SigningKeyRow): PrivateJwk {
    const jwk = JSON.parse(secrets.open('signing-key', row.kid, row.private_ciphertext)) as PrivateJwk;
    if (row.state !== 'active') return { ...jwk, key_ops: ['verify'] };
    return jwk;
  }

  return {
    /**
     * On first start (or after every key of an algorithm was revoked) creates an
     * active key per bootstrap algorithm. Runs under an advisory lock so nodes
     * starting together create one key, not one each.
     */
    async ensureActiveKeys(): Promise<SigningKeyRow[]> {
      const result = await db.withAdvisoryLock(advisoryLocks.keyRotation, async () => {
        const published = await store.listPublished();
        const created: SigningKeyRow[] = [];
        for (const alg of bootstrapAlgorithms) {
          if (published.some((k) => k.alg === alg && k.state === 'active')) continue;
          const key = await generate(alg);
          const row = {
            kid: key.kid,
            alg,
            public_jwk: key.publicJwk as Record<string, unknown>,
            private_ciphertext: secrets.seal('signing-key', key.kid, JSON.stringify(key.privateJwk)),
            state: 'active' as KeyState,
          };
          await store.insert(row);
          created.push({ ...row, created_at: new Date(), activate_at: new Date(), retire_at: null, delete_after: null });
        }
        return created;
      });
      return result.acquired ? result.value : [];
    },

    async load(): Promise<KeySet> {
      const rows = await store.listPublished();
      if (!rows.some((r) => r.state === 'active')) throw new KeystoreError('no active signing key');
      // The library signs with the first matching key; the active key of each
      // algorithm therefore comes first.
      const ordered = [...rows.filter((r) => r.state === 'active'), ...rows.filter((r) => r.state !== 'active')];
      return {
        jwks: { keys: ordered.map(decrypt) },
        version: ordered.map((r) => `${r.kid}:${r.state}`).join(','),
      };
    },

    list: () => store.listAll(),
  };
}

export type Keystore = ReturnType<typeof createKeystore>;
