/**
 * Passkeys (WebAuthn Level 3) through @simplewebauthn/server: registration,
 * assertions as a second factor or without a password (discoverable
 * credentials), and the user's list of them. User verification is always
 * required (§6.2.3), so a passkey alone is two factors: the device and its PIN
 * or biometric. Challenges are single-use and stored hashed (store.ts); the
 * signature counter only moves forward, and one that goes back is a cloned
 * authenticator (§6.1.1), refused and audited. Assertions pass through the
 * same lockout as passwords and TOTP codes.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticatorTransport,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';

import type { SignInOrigin } from '../accounts/accounts.js';
import { recordLocks } from '../accounts/lockout.js';
import type { Lockout } from '../accounts/lockout.js';
import { recordAs, viaOf, type Actor, type Audit, type EventOrigin } from '../audit/events.js';
import { sha256 } from '../crypto/digest.js';
import type { Db } from '../db/index.js';
import type { AssertionJSON, AttestationJSON } from './schemas.js';
import { createPasskeyStore, type PasskeyRow } from './store.js';

export interface PasskeySettings {
  /** WebAuthn RP ID (§5.4.2): the issuer's host name unless configured. */
  rpId: string;
  rpName: string;
  /** The origin pages are served from (the issuer's). */
  origin: string;
  /** `none`: no attestation asked for or needed; `direct`: asked for, and a response without one (`fmt: none`) refused. */
  attestation: 'none' | 'direct';
}

/** A passkey as the account page and the operator see it; never the key material. */
export interface Passkey {
  id: string;
  name: string;
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  transports: string[];
  createdAt: Date;
  lastUsedAt: Date | undefined;
}

export type PasskeyCheck =
  /** `amr`: RFC 8176 methods this assertion proves. */
  | { ok: true; accountId: string; passkeyId: string; amr: string[] }
  | { ok: false; reason: 'locked'; retryAfterSeconds: number }
  /** `expired`: no challenge for this ceremony (used, replaced, or too old). */
  | { ok: false; reason: 'invalid' | 'unknown_credential' | 'cloned' | 'expired' };

export type RegistrationResult =
  | { ok: true; passkey: Passkey }
  | { ok: false; reason: 'invalid' | 'expired' | 'duplicate' | 'attestation_required' };

export interface PasskeyService {
  hasPasskey(accountId: string): Promise<boolean>;
  list(accountId: string): Promise<Passkey[]>;
  /** Options for `navigator.credentials.create`; the challenge is kept (hashed) for `ceremony` until `expiresAt`. */
  registrationOptions(ceremony: string, account: { id: string; username: string; name: string | null }, expiresAt: Date): Promise<PublicKeyCredentialCreationOptionsJSON>;
  register(actor: Actor, ceremony: string, accountId: string, response: AttestationJSON, name: string | undefined, origin?: EventOrigin): Promise<RegistrationResult>;
  /** Options for `navigator.credentials.get`: the account's passkeys, or (no account) any discoverable one. */
  authenticationOptions(ceremony: string, accountId: string | undefined, expiresAt: Date): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /**
   * Checks an assertion for `ceremony` through the lockout. With `accountId`
   * (a second factor) the credential must be one of that account's; without
   * (passwordless) the credential names the account, and its user handle must agree.
   */
  verify(ceremony: string, accountId: string | undefined, response: AssertionJSON, origin: SignInOrigin): Promise<PasskeyCheck>;
  rename(actor: Actor, accountId: string, passkeyId: string, name: string): Promise<boolean>;
  remove(actor: Actor, accountId: string, passkeyId: string, origin?: EventOrigin): Promise<boolean>;
}

export interface PasskeyDeps {
  db: Db;
  lockout: Lockout;
  audit: Audit;
  settings: PasskeySettings;
}

const toPasskey = (row: PasskeyRow): Passkey => ({
  id: row.id,
  name: row.name,
  deviceType: row.device_type,
  backedUp: row.backed_up,
  transports: row.transports,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at ?? undefined,
});

/**
 * RFC 8176: proof of possession of a key (`pop`), held in hardware (`hwk`)
 * when the credential cannot leave its device, or in software that syncs it
 * (`swk`, a backup-eligible passkey, §6.1.3); `user` for the presence test.
 */
export function amrOfPasskey(deviceType: PasskeyRow['device_type']): string[] {
  return ['pop', deviceType === 'singleDevice' ? 'hwk' : 'swk', 'user'];
}

/** The WebAuthn user handle (§5.4.3): the account id, opaque and free of personal data. */
const userHandleOf = (accountId: string) => Buffer.from(accountId, 'utf8');

const sameHash = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

export function createPasskeyService({ db, lockout, audit, settings }: PasskeyDeps): PasskeyService {
  const store = createPasskeyStore(db);
  const ceremonyKey = (ceremony: string) => sha256(`webauthn:${ceremony}`);

  /** Raw bytes for the library, which hands them to the browser base64url-encoded; that encoding comes back in clientDataJSON and is what is hashed. */
  async function newChallenge(ceremony: string, expiresAt: Date): Promise<Uint8Array<ArrayBuffer>> {
    const challenge = randomBytes(32);
    await store.saveChallenge(ceremonyKey(ceremony), sha256(challenge.toString('base64url')), expiresAt);
    return new Uint8Array(challenge);
  }

  /** The library's challenge check against the hash taken (and so spent) for this ceremony. */
  const challengeMatches = (hash: Buffer) => (challenge: string) => sameHash(sha256(challenge), hash);

  async function assert(row: PasskeyRow, challengeHash: Buffer, response: AssertionJSON): Promise<'ok' | 'invalid' | 'cloned'> {
    const verification = await verifyAuthenticationResponse({
      response: response as Parameters<typeof verifyAuthenticationResponse>[0]['response'],
      expectedChallenge: challengeMatches(challengeHash),
      expectedOrigin: settings.origin,
      expectedRPID: settings.rpId,
      credential: { id: row.credential_id, publicKey: new Uint8Array(row.public_key), counter: row.counter, transports: row.transports as AuthenticatorTransport[] },
      requireUserVerification: true,
    }).catch((error: unknown) => (error instanceof Error && /counter value/i.test(error.message) ? 'cloned' as const : 'invalid' as const));
    if (typeof verification === 'string') return verification;
    if (!verification.verified) return 'invalid';
    const { newCounter, credentialBackedUp } = verification.authenticationInfo;
    // A parallel assertion with the same or a higher counter got there first: the same verdict as a counter gone back.
    return (await store.recordUse(row.id, newCounter, credentialBackedUp)) ? 'ok' : 'cloned';
  }

  function refused(accountId: string | undefined, reason: string, origin: SignInOrigin, lockedNow?: { account: boolean; address: boolean }) {
    const who = { actor: accountId, subject: accountId, clientId: origin.clientId };
    audit.record({ type: 'mfa.failed', outcome: 'failure', ...who, detail: { method: 'passkey', reason } });
    if (reason === 'cloned') audit.record({ type: 'passkey.cloned', outcome: 'failure', ...who });
    if (lockedNow) recordLocks(audit, lockedNow, { ...who, factor: 'passkey' });
  }

  return {
    hasPasskey: (accountId) => store.exists(accountId),

    list: async (accountId) => (await store.ofAccount(accountId)).map(toPasskey),

    async registrationOptions(ceremony, account, expiresAt) {
      const existing = await store.ofAccount(account.id);
      return generateRegistrationOptions({
        rpName: settings.rpName,
        rpID: settings.rpId,
        userName: account.username,
        userDisplayName: account.name ?? account.username,
        userID: userHandleOf(account.id),
        challenge: await newChallenge(ceremony, expiresAt),
        attestationType: settings.attestation,
        // The same authenticator twice would be one factor counted twice.
        excludeCredentials: existing.map((p) => ({ id: p.credential_id, transports: p.transports as AuthenticatorTransport[] })),
        // Discoverable, so the same passkey also signs in without a password.
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
    },

    async register(actor, ceremony, accountId, response, name, origin = {}) {
      const challengeHash = await store.takeChallenge(ceremonyKey(ceremony));
      if (!challengeHash) return { ok: false, reason: 'expired' };
      const verification = await verifyRegistrationResponse({
        response: response as Parameters<typeof verifyRegistrationResponse>[0]['response'],
        expectedChallenge: challengeMatches(challengeHash),
        expectedOrigin: settings.origin,
        expectedRPID: settings.rpId,
        requireUserVerification: true,
      }).catch(() => undefined);
      const failed = (reason: Exclude<RegistrationResult, { ok: true }>['reason']): RegistrationResult => {
        recordAs(audit, actor, { type: 'passkey.registration_failed', outcome: 'failure', subject: accountId, clientId: origin.clientId, detail: { reason } });
        return { ok: false, reason };
      };
      if (!verification?.verified) return failed('invalid');
      const info = verification.registrationInfo;
      if (settings.attestation === 'direct' && info.fmt === 'none') return failed('attestation_required');
      const row = {
        id: randomUUID(),
        account_id: accountId,
        credential_id: info.credential.id,
        public_key: Buffer.from(info.credential.publicKey),
        counter: info.credential.counter,
        transports: response.response.transports ?? [],
        device_type: info.credentialDeviceType,
        backed_up: info.credentialBackedUp,
        aaguid: info.aaguid,
        attestation: info.fmt,
        name: name ?? `Passkey ${new Date().toISOString().slice(0, 10)}`,
      };
      if (!(await store.insert(row))) return failed('duplicate');
      recordAs(audit, actor, { type: 'passkey.registered', subject: accountId, clientId: origin.clientId, detail: { via: viaOf(actor), passkey: row.id, deviceType: row.device_type, attestation: row.attestation } });
      return { ok: true, passkey: toPasskey({ ...row, created_at: new Date(), last_used_at: null }) };
    },

    async authenticationOptions(ceremony, accountId, expiresAt) {
      const allow = accountId === undefined ? [] : await store.ofAccount(accountId);
      return generateAuthenticationOptions({
        rpID: settings.rpId,
        challenge: await newChallenge(ceremony, expiresAt),
        allowCredentials: allow.map((p) => ({ id: p.credential_id, transports: p.transports as AuthenticatorTransport[] })),
        userVerification: 'required',
      });
    },

    async verify(ceremony, accountId, response, origin) {
      const challengeHash = await store.takeChallenge(ceremonyKey(ceremony));
      if (!challengeHash) return { ok: false, reason: 'expired' };
      const row = await store.byCredentialId(response.id);
      const owner = accountId ?? row?.account_id;
      // An unknown credential still costs an attempt: per account when one is named, else per address (and the id typed).
      const attempt = await lockout.attempt(owner === undefined ? { login: `passkey:${response.id}`, accountId: undefined } : { accountId: owner }, origin.ip);
      if (!attempt.allowed) {
        refused(owner, 'locked', origin);
        return { ok: false, reason: 'locked', retryAfterSeconds: attempt.retryAfterSeconds };
      }
      const handle = response.response.userHandle;
      const handleAgrees = handle === undefined ? accountId !== undefined : row !== undefined && sameHash(Buffer.from(handle, 'base64url'), userHandleOf(row.account_id));
      const verdict = row && row.account_id === owner && handleAgrees ? await assert(row, challengeHash, response) : 'unknown_credential';
      if (verdict === 'ok' && row) {
        await attempt.succeeded();
        audit.record({ type: 'mfa.verified', outcome: 'success', actor: row.account_id, subject: row.account_id, clientId: origin.clientId, detail: { method: 'passkey', passkey: row.id, passwordless: accountId === undefined } });
        return { ok: true, accountId: row.account_id, passkeyId: row.id, amr: amrOfPasskey(row.device_type) };
      }
      const { locked, addressLocked } = attempt.failed();
      refused(owner, verdict, origin, { account: locked && owner !== undefined, address: addressLocked });
      return { ok: false, reason: verdict === 'ok' ? 'invalid' : verdict };
    },

    async rename(actor, accountId, passkeyId, name) {
      const renamed = await store.rename(accountId, passkeyId, name);
      if (renamed) recordAs(audit, actor, { type: 'passkey.renamed', subject: accountId, detail: { via: viaOf(actor), passkey: passkeyId } });
      return renamed;
    },

    async remove(actor, accountId, passkeyId, origin = {}) {
      const removed = await store.remove(accountId, passkeyId);
      if (removed) recordAs(audit, actor, { type: 'passkey.removed', subject: accountId, clientId: origin.clientId, detail: { via: viaOf(actor), passkey: passkeyId } });
      return removed;
    },
  };
}
