/**
 * The second factor: TOTP enrolment and verification, recovery codes, and
 * re-sealing under a new master secret. Seeds are sealed (AES-256-GCM,
 * purpose `totp-seed`) with the account id as context, so a ciphertext moved
 * to another account's row does not open.
 */
import type { SignInOrigin } from '../accounts/accounts.js';
import { recordLocks } from '../accounts/lockout.js';
import type { Lockout } from '../accounts/lockout.js';
import { recordAs, viaOf, type Actor, type Audit, type EventOrigin } from '../audit/events.js';
import type { Db } from '../db/index.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { newRecoveryCodes, newRecoveryKey, normaliseRecoveryCode, recoveryCodeDigest } from './recovery-codes.js';
import { createSignInStore } from './sign-in-store.js';
import { createFactorStore, type FactorRow } from './store.js';
import { groupSeed, matchingStep, newSeed, otpauthUri, qrDataUrl } from './totp.js';

export interface MfaStatus {
  enrolled: boolean;
  enrolledAt: Date | undefined;
  lastUsedAt: Date | undefined;
  recoveryCodesLeft: number;
}

/** What an enrolment page (or the CLI) shows: the seed three ways. */
export interface EnrolmentDisplay {
  seed: string;
  /** The seed in groups of four, for typing. */
  groupedSeed: string;
  uri: string;
  qrDataUrl: string;
}

export type SecondFactorResult =
  | { ok: true; recoveryCodesLeft?: number }
  | { ok: false; reason: 'locked'; retryAfterSeconds: number }
  /** The code of the time step accepted last, used again (RFC 6238 §5.2): refused, but not a guess. */
  | { ok: false; reason: 'spent' }
  /** `replayed`: a code of an earlier step than the one spent (for the audit log; users are told only that it did not work). */
  | { ok: false; reason: 'invalid'; replayed: boolean; lockedNow: { account: boolean; address: boolean } };

export type EnrolmentResult =
  | { ok: true; recoveryCodes: string[] }
  | { ok: false; reason: 'invalid_code' | 'already_enrolled' };

export interface MfaDeps {
  db: Db;
  secrets: SecretBox;
  lockout: Lockout;
  /** Issuer name in authenticator apps (config.mfa.totpIssuer). */
  totpIssuer: string;
  audit: Audit;
  /** Ends the account's sessions and tokens once its second factor is reset (src/sessions/). */
  signOut?: (actor: Actor, accountId: string, reason: 'second_factor_reset') => Promise<unknown>;
  /** Whether the account has a passkey (src/passkeys/), the other second factor. */
  hasPasskey(accountId: string): Promise<boolean>;
}

// The recovery-code key is sealed under the seed's purpose but its own context,
// so neither ciphertext can stand in for the other.
const recoveryKeyContext = (accountId: string) => `${accountId}:recovery-codes`;

export interface MfaService {
  /** An active second factor of either kind: TOTP or a passkey. */
  hasFactor: (accountId: string) => Promise<boolean>;
  hasTotp: (accountId: string) => Promise<boolean>;
  status(accountId: string): Promise<MfaStatus>;
  /** A fresh seed. Nothing is stored: the caller keeps it (sealed) until the user confirms a code. */
  newSeed: typeof newSeed;
  /** `account` is the label authenticator apps show under the issuer name. */
  describeEnrolment(account: string, seed: string): Promise<EnrolmentDisplay>;
  /**
  * Turns the factor on once the user proves their app holds `seed` with a
  * current code, and returns the recovery codes (the only time they exist
  * in clear). Never replaces a factor the account already has.
  */
  confirmEnrolment(actor: Actor, accountId: string, seed: string, code: string, origin?: EventOrigin): Promise<EnrolmentResult>;
  /** A sign-in's TOTP code (see checkTotp); the outcome is audited. */
  verifyTotp(accountId: string, code: string, origin: SignInOrigin): Promise<SecondFactorResult>;
  /** A sign-in's recovery code (see spendRecoveryCode); the outcome is audited. */
  useRecoveryCode(accountId: string, input: string, origin: SignInOrigin): Promise<SecondFactorResult>;
  /** New codes replace all the old ones (used or not); undefined when the account has no factor. */
  regenerateRecoveryCodes(actor: Actor, accountId: string, origin?: EventOrigin): Promise<string[] | undefined>;
  /** Removes the factor and its recovery codes; the account signs in with its password alone until it enrols again. */
  reset(actor: Actor, accountId: string): Promise<boolean>;
  /**
  * Re-seals every seed and recovery-code key (and every seed of an
  * enrolment in progress) still under a previous master secret, for
  * `gatehouse keys rewrap`. Returns how many rows it re-sealed.
  */
  rewrap(onProgress?: (done: number, total: number) => void): Promise<number>;
}

export function createMfaService({ db, secrets, lockout, totpIssuer, audit, signOut, hasPasskey }: MfaDeps): MfaService {
  const factors = createFactorStore(db);
  const signIns = createSignInStore(db);

  const openSeed = (factor: FactorRow) => secrets.open('totp-seed', factor.account_id, factor.seed_ciphertext);
  const openRecoveryKey = (factor: FactorRow) =>
    Buffer.from(secrets.open('totp-seed', recoveryKeyContext(factor.account_id), factor.recovery_key_ciphertext), 'base64url');
  const sealRecoveryKey = (accountId: string, key: Buffer) => secrets.seal('totp-seed', recoveryKeyContext(accountId), key.toString('base64url'));
  const digests = (key: Buffer, accountId: string, codes: readonly string[]) =>
    codes.map((code) => recoveryCodeDigest(key, accountId, normaliseRecoveryCode(code)!));

  /** A refused code at sign-in, with the locks it set; the user is the actor (they hold the first factor). */
  function refused(accountId: string, method: 'totp' | 'recovery_code', result: Exclude<SecondFactorResult, { ok: true }>, origin: SignInOrigin): void {
    const who = { actor: accountId, subject: accountId, clientId: origin.clientId };
    if (result.reason === 'locked' || result.reason === 'spent') {
      audit.record({ type: 'mfa.failed', outcome: 'failure', ...who, detail: { method, reason: result.reason === 'spent' ? 'replayed' : 'locked' } });
      return;
    }
    audit.record({ type: 'mfa.failed', outcome: 'failure', ...who, detail: { method, reason: result.replayed ? 'replayed' : 'invalid' } });
    recordLocks(audit, result.lockedNow, { ...who, factor: method });
  }

  /**
   * Checks a TOTP code through the lockout. A code for a time step at or
   * before the last accepted one is refused (RFC 6238 §5.2), and spending a
   * step is one conditional UPDATE, so of two parallel requests carrying
   * the same code one fails.
   */
  async function checkTotp(accountId: string, code: string, ip: string): Promise<SecondFactorResult> {
    const attempt = await lockout.attempt({ accountId }, ip);
    if (!attempt.allowed) return { ok: false, reason: 'locked', retryAfterSeconds: attempt.retryAfterSeconds };
    const factor = await factors.find(accountId);
    const seed = factor ? openSeed(factor) : undefined;
    const step = factor && seed ? await matchingStep(seed, code, factor.last_used_step) : undefined;
    if (step !== undefined && (await factors.claimStep(accountId, step))) {
      await attempt.succeeded();
      return { ok: true };
    }
    // The code of the step accepted last (or one a parallel request just claimed) is a person
    // signing in twice within 30 s, not a guess: it costs no attempt, and they are told to wait
    // for the next code. Any other refused code counts.
    const spentStep = step ?? (seed !== undefined ? await matchingStep(seed, code) : undefined);
    if (step !== undefined || (spentStep !== undefined && spentStep === factor?.last_used_step)) {
      await attempt.succeeded();
      return { ok: false, reason: 'spent' };
    }
    const { locked, addressLocked } = attempt.failed();
    // Right but from an earlier step than the one spent: worth telling the audit log apart from a guess.
    return { ok: false, reason: 'invalid', replayed: spentStep !== undefined, lockedNow: { account: locked, address: addressLocked } };
  }

  /** Spends one recovery code, through the lockout like a TOTP code. */
  async function spendRecoveryCode(accountId: string, input: string, ip: string): Promise<SecondFactorResult> {
    const attempt = await lockout.attempt({ accountId }, ip);
    if (!attempt.allowed) return { ok: false, reason: 'locked', retryAfterSeconds: attempt.retryAfterSeconds };
    const factor = await factors.find(accountId);
    const code = normaliseRecoveryCode(input);
    if (factor && code && (await factors.spendRecoveryCode(accountId, recoveryCodeDigest(openRecoveryKey(factor), accountId, code)))) {
      await attempt.succeeded();
      return { ok: true, recoveryCodesLeft: await factors.unusedRecoveryCodes(accountId) };
    }
    const { locked, addressLocked } = attempt.failed();
    return { ok: false, reason: 'invalid', replayed: false, lockedNow: { account: locked, address: addressLocked } };
  }

  return {
    hasFactor: async (accountId: string) => (await factors.exists(accountId)) || (await hasPasskey(accountId)),
    hasTotp: (accountId: string) => factors.exists(accountId),

    async status(accountId: string): Promise<MfaStatus> {
      const factor = await factors.find(accountId);
      if (!factor) return { enrolled: false, enrolledAt: undefined, lastUsedAt: undefined, recoveryCodesLeft: 0 };
      return {
        enrolled: true,
        enrolledAt: factor.created_at,
        lastUsedAt: factor.last_used_at ?? undefined,
        recoveryCodesLeft: await factors.unusedRecoveryCodes(accountId),
      };
    },

    /** A fresh seed. Nothing is stored: the caller keeps it (sealed) until the user confirms a code. */
    newSeed,

    /** `account` is the label authenticator apps show under the issuer name. */
    async describeEnrolment(account: string, seed: string): Promise<EnrolmentDisplay> {
      const uri = otpauthUri({ issuer: totpIssuer, account, seed });
      return { seed, groupedSeed: groupSeed(seed), uri, qrDataUrl: await qrDataUrl(uri) };
    },

    /**
     * Turns the factor on once the user proves their app holds `seed` with a
     * current code, and returns the recovery codes (the only time they exist
     * in clear). Never replaces a factor the account already has.
     */
    async confirmEnrolment(actor: Actor, accountId: string, seed: string, code: string, origin: EventOrigin = {}): Promise<EnrolmentResult> {
      const step = await matchingStep(seed, code);
      if (step === undefined) {
        recordAs(audit, actor, { type: 'mfa.failed', outcome: 'failure', subject: accountId, clientId: origin.clientId, detail: { method: 'totp', reason: 'invalid', stage: 'enrolment' } });
        return { ok: false, reason: 'invalid_code' };
      }
      const key = newRecoveryKey();
      const recoveryCodes = newRecoveryCodes();
      const inserted = await factors.insert({
        accountId,
        seedCiphertext: secrets.seal('totp-seed', accountId, seed),
        recoveryKeyCiphertext: sealRecoveryKey(accountId, key),
        lastUsedStep: step,
        recoveryCodeHashes: digests(key, accountId, recoveryCodes),
      });
      if (!inserted) return { ok: false, reason: 'already_enrolled' };
      recordAs(audit, actor, { type: 'mfa.enrolled', subject: accountId, clientId: origin.clientId, detail: { via: viaOf(actor) } });
      return { ok: true, recoveryCodes };
    },

    /** A sign-in's TOTP code (see checkTotp); the outcome is audited. */
    async verifyTotp(accountId: string, code: string, origin: SignInOrigin): Promise<SecondFactorResult> {
      const result = await checkTotp(accountId, code, origin.ip);
      if (result.ok) audit.record({ type: 'mfa.verified', outcome: 'success', actor: accountId, subject: accountId, clientId: origin.clientId, detail: { method: 'totp' } });
      else refused(accountId, 'totp', result, origin);
      return result;
    },

    /** A sign-in's recovery code (see spendRecoveryCode); the outcome is audited. */
    async useRecoveryCode(accountId: string, input: string, origin: SignInOrigin): Promise<SecondFactorResult> {
      const result = await spendRecoveryCode(accountId, input, origin.ip);
      if (result.ok) audit.record({ type: 'mfa.recovery_code_used', outcome: 'success', actor: accountId, subject: accountId, clientId: origin.clientId, detail: { left: result.recoveryCodesLeft } });
      else refused(accountId, 'recovery_code', result, origin);
      return result;
    },

    /** New codes replace all the old ones (used or not); undefined when the account has no factor. */
    async regenerateRecoveryCodes(actor: Actor, accountId: string, origin: EventOrigin = {}): Promise<string[] | undefined> {
      const factor = await factors.find(accountId);
      if (!factor) return undefined;
      const codes = newRecoveryCodes();
      if (!(await factors.replaceRecoveryCodes(accountId, digests(openRecoveryKey(factor), accountId, codes)))) return undefined;
      recordAs(audit, actor, { type: 'mfa.recovery_codes_regenerated', subject: accountId, clientId: origin.clientId, detail: { via: viaOf(actor) } });
      return codes;
    },

    /** Removes the factor and its recovery codes; the account signs in with its password alone until it enrols again. */
    async reset(actor: Actor, accountId: string): Promise<boolean> {
      const removed = await factors.remove(accountId);
      if (removed) recordAs(audit, actor, { type: 'mfa.reset', subject: accountId });
      if (removed) await signOut?.(actor, accountId, 'second_factor_reset');
      return removed;
    },

    /**
     * Re-seals every seed and recovery-code key (and every seed of an
     * enrolment in progress) still under a previous master secret, for
     * `gatehouse keys rewrap`. Returns how many rows it re-sealed.
     */
    async rewrap(onProgress?: (done: number, total: number) => void): Promise<number> {
      const stale = (sealed: string) => secrets.keyIdOf(sealed) !== secrets.currentKeyId;
      const factorRows = (await factors.list()).filter((f) => stale(f.seed_ciphertext) || stale(f.recovery_key_ciphertext));
      const enrolments = (await signIns.listEnrolments()).filter((e) => stale(e.enrolment_seed_ciphertext));
      const total = factorRows.length + enrolments.length;
      let done = 0;
      for (const factor of factorRows) {
        const seed = secrets.seal('totp-seed', factor.account_id, openSeed(factor));
        const recoveryKey = sealRecoveryKey(factor.account_id, openRecoveryKey(factor));
        await factors.replaceCiphertexts(factor.account_id, { seed: factor.seed_ciphertext, recoveryKey: factor.recovery_key_ciphertext }, { seed, recoveryKey });
        onProgress?.((done += 1), total);
      }
      for (const enrolment of enrolments) {
        const seed = secrets.open('totp-seed', enrolment.account_id, enrolment.enrolment_seed_ciphertext);
        await signIns.replaceEnrolmentCiphertext(enrolment.interaction_hash, enrolment.enrolment_seed_ciphertext, secrets.seal('totp-seed', enrolment.account_id, seed));
        onProgress?.((done += 1), total);
      }
      return done;
    },
  };
}

