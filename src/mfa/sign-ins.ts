/**
 * A sign-in between its password and its second factor. The state lives in
 * the database, keyed by the SHA-256 of the interaction id and expiring with
 * the interaction, never in a cookie or a form field: the second-factor pages
 * act only on what the server itself recorded when the password (or, for a
 * step-up, the existing session) was verified, and any node can serve them.
 * Until the last stage the library's login is not finished, so leaving the
 * pages half-way leaves no session behind.
 */
import type { Audit, EventOrigin } from '../audit/events.js';
import type { Db } from '../db/index.js';
import { sha256 } from '../crypto/digest.js';
import type { SecretBox } from '../crypto/secret-box.js';
import { createSignInStore, type SignInStage } from './sign-in-store.js';

export type { SignInStage } from './sign-in-store.js';

export interface PendingSignIn {
  accountId: string;
  /**
   * `totp`: waiting for a second factor (a code, a recovery code or a
   * passkey); `enrol`: showing a new seed, waiting for its first code;
   * `passkey_enrol`: waiting for a passkey to be created; `enrolled` /
   * `recovered`: the second factor is proven, waiting for the user to continue.
   */
  stage: SignInStage;
  /** RFC 8176 methods proven so far in this sign-in. */
  amr: string[];
  /** The seed being enrolled (stage `enrol` only). */
  enrolmentSeed: string | undefined;
}

type NewSignIn = { accountId: string; stage: 'totp' | 'enrol' | 'passkey_enrol'; amr: string[]; enrolmentSeed?: string };

export interface PendingSignIns {
  /** Records (or replaces) the state for this interaction after a right password, expiring with it; an enrolment's start is audited. */
  start(interactionUid: string, expiresAt: Date, state: NewSignIn, origin?: EventOrigin): Promise<void>;
  /** A signed-in session that only lacks the second factor asks for the code alone (audited as `mfa.step_up`). */
  startStepUp(interactionUid: string, expiresAt: Date, state: {
    accountId: string;
    amr: string[];
    fromAcr: string | undefined;
  }, origin?: EventOrigin): Promise<void>;
  find(interactionUid: string): Promise<PendingSignIn | undefined>;
  /** Records that the second factor passed; false when a parallel request already moved this sign-in on. */
  advance: (interactionUid: string, from: SignInStage, to: 'enrolled' | 'recovered' | 'passkey_enrol', amr: string[]) => Promise<boolean>;
  /** Ends the state if it is at one of `stages`, returning it: exactly one request gets to finish the login with it. */
  take(interactionUid: string, stages: readonly SignInStage[]): Promise<{
    accountId: string;
    amr: string[];
  } | undefined>;
  cancel: (interactionUid: string) => Promise<void>;
}

export function createPendingSignIns(db: Db, secrets: SecretBox, audit: Audit): PendingSignIns {
  const store = createSignInStore(db);
  const keyOf = (interactionUid: string) => sha256(`mfa-sign-in:${interactionUid}`);

  async function save(interactionUid: string, expiresAt: Date, state: NewSignIn): Promise<void> {
    await store.upsert(keyOf(interactionUid), {
        account_id: state.accountId,
        stage: state.stage,
        amr: state.amr,
        enrolment_seed_ciphertext: state.enrolmentSeed === undefined ? null : secrets.seal('totp-seed', state.accountId, state.enrolmentSeed),
        expiresAt,
      });
    // Housekeeping rides on new sign-ins rather than a timer of its own.
    await store.deleteExpired();
  }

  return {
    /** Records (or replaces) the state for this interaction after a right password, expiring with it; an enrolment's start is audited. */
    async start(interactionUid: string, expiresAt: Date, state: NewSignIn, origin: EventOrigin = {}): Promise<void> {
      await save(interactionUid, expiresAt, state);
      if (state.stage !== 'totp') {
        const factor = state.stage === 'enrol' ? 'totp' : 'passkey';
        audit.record({ type: 'mfa.enrolment_started', actor: state.accountId, subject: state.accountId, clientId: origin.clientId, detail: { via: 'sign-in', factor } });
      }
    },

    /** A signed-in session that only lacks the second factor asks for the code alone (audited as `mfa.step_up`). */
    async startStepUp(interactionUid: string, expiresAt: Date, state: { accountId: string; amr: string[]; fromAcr: string | undefined }, origin: EventOrigin = {}): Promise<void> {
      await save(interactionUid, expiresAt, { accountId: state.accountId, stage: 'totp', amr: state.amr });
      audit.record({ type: 'mfa.step_up', actor: state.accountId, subject: state.accountId, clientId: origin.clientId, detail: { from: state.fromAcr } });
    },

    async find(interactionUid: string): Promise<PendingSignIn | undefined> {
      const row = await store.find(keyOf(interactionUid));
      if (!row) return undefined;
      return {
        accountId: row.account_id,
        stage: row.stage,
        amr: row.amr,
        enrolmentSeed: row.enrolment_seed_ciphertext === null ? undefined : secrets.open('totp-seed', row.account_id, row.enrolment_seed_ciphertext),
      };
    },

    /** Records that the second factor passed; false when a parallel request already moved this sign-in on. */
    advance: (interactionUid: string, from: SignInStage, to: 'enrolled' | 'recovered' | 'passkey_enrol', amr: string[]) => store.advance(keyOf(interactionUid), from, to, amr),

    /** Ends the state if it is at one of `stages`, returning it: exactly one request gets to finish the login with it. */
    async take(interactionUid: string, stages: readonly SignInStage[]): Promise<{ accountId: string; amr: string[] } | undefined> {
      const row = await store.take(keyOf(interactionUid), stages);
      return row ? { accountId: row.account_id, amr: row.amr } : undefined;
    },

    cancel: (interactionUid: string) => store.remove(keyOf(interactionUid)),
  };
}

