/**
 * Hand-made DPoP proofs (RFC 9449 §4.2) for the negative paths a well-behaved
 * client library would never send: wrong method or URL, old or future `iat`,
 * stale nonce, another key, a replay. Signed with jose, as any client would.
 */
import { createHash, hkdfSync, randomUUID } from 'node:crypto';

import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type GenerateKeyPairResult } from 'jose';

import { decodeMasterKey } from '../../../src/crypto/master-key.js';
import { createSecretBox } from '../../../src/crypto/secret-box.js';

export type KeyPair = GenerateKeyPairResult;

export interface ProofKey {
  keys: KeyPair;
  jwk: Awaited<ReturnType<typeof exportJWK>>;
  thumbprint: string;
}

export async function proofKey(alg = 'ES256'): Promise<ProofKey> {
  return asProofKey(await generateKeyPair(alg, { extractable: true }));
}

/** A key pair a client library made, as a ProofKey for hand-made proofs. */
export async function asProofKey(keys: KeyPair): Promise<ProofKey> {
  const jwk = await exportJWK(keys.publicKey);
  return { keys, jwk, thumbprint: await calculateJwkThumbprint(jwk) };
}

export interface ProofClaims {
  htm: string;
  htu: string;
  nonce?: string | undefined;
  accessToken?: string;
  iat?: number;
  jti?: string;
}

export const ath = (accessToken: string) => createHash('sha256').update(accessToken).digest('base64url');

export async function proof(key: ProofKey, claims: ProofClaims, alg = 'ES256'): Promise<string> {
  return new SignJWT({
    htm: claims.htm,
    htu: claims.htu,
    jti: claims.jti ?? randomUUID(),
    iat: claims.iat ?? Math.floor(Date.now() / 1000),
    ...(claims.nonce !== undefined ? { nonce: claims.nonce } : {}),
    ...(claims.accessToken !== undefined ? { ath: ath(claims.accessToken) } : {}),
  })
    .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk: key.jwk })
    .sign(key.keys.privateKey);
}

/**
 * The nonce a node holding `masterKey` issues for a 60 s time step: what
 * oidc-provider computes from `features.dPoP.nonceSecret`
 * (lib/helpers/challenge.js), here from the key Gatehouse derives.
 */
export function nonceFor(masterKey: string, step: number): string {
  const secret = createSecretBox(decodeMasterKey(masterKey)).deriveKey('dpop-nonce');
  const salt = Buffer.alloc(8);
  salt.writeBigUInt64BE(BigInt(step));
  return Buffer.from(hkdfSync('sha256', secret, salt, 'DPoP', 32)).toString('base64url');
}

export const currentStep = () => Math.floor(Date.now() / 1000 / 60);

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A client-credentials request with an optional proof; the body is parsed. */
export async function tokenRequest(url: string, init: { authorization: string; dpop?: string; headers?: Record<string, string>; body?: Record<string, string> }) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: init.authorization, ...(init.dpop ? { dpop: init.dpop } : {}), ...init.headers },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...init.body }).toString(),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

/** A nonce the server hands out: asked for with a proof that carries none (RFC 9449 §8). */
export async function fetchNonce(url: string, authorization: string, key: ProofKey, headers: Record<string, string> = {}): Promise<string> {
  const response = await tokenRequest(url, { authorization, dpop: await proof(key, { htm: 'POST', htu: url }), headers });
  const nonce = response.headers.get('dpop-nonce');
  if (response.status !== 400 || response.body.error !== 'use_dpop_nonce' || !nonce) throw new Error(`expected use_dpop_nonce, got ${response.status} ${JSON.stringify(response.body)}`);
  return nonce;
}
