/**
 * DESIGN invariant 1 for the second factor: no TOTP seed (confirmed or in the
 * middle of an enrolment) and no recovery code can be read from a database
 * dump, in any encoding a leak would take; and the ciphertexts move to a new
 * master secret with rewrap.
 */
import { randomBytes } from 'node:crypto';

import { ScureBase32Plugin } from 'otplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLockout } from '../../../src/accounts/lockout.js';
import { noAudit } from '../../../src/audit/events.js';
import { createMfaService } from '../../../src/mfa/mfa.js';
import { createSecretBox, SecretBoxError } from '../../../src/crypto/secret-box.js';
import { dumpDatabase } from '../../support/dump.js';
import { acrMfa, awaitStableStep, SignIn, startTestBed, totp, type TestBed } from './sign-in-flow.js';

const base32 = new ScureBase32Plugin();

/** Every form in which `value` could sit in a dump. */
function encodings(value: string, raw?: Uint8Array): string[] {
  const forms = new Set([value, value.toLowerCase(), value.toUpperCase()]);
  for (const bytes of [Buffer.from(value), ...(raw ? [Buffer.from(raw)] : [])]) {
    forms.add(bytes.toString('hex'));
    forms.add(bytes.toString('hex').toUpperCase());
    forms.add(bytes.toString('base64'));
    forms.add(bytes.toString('base64url'));
    // A bytea column prints as \x followed by hex.
    forms.add(`\\x${bytes.toString('hex')}`);
  }
  return [...forms];
}

describe('second-factor secrets at rest', () => {
  const oldKey = randomBytes(32);
  let bed: TestBed;
  const seeds = new Map<string, string>();
  const recoveryCodes = new Map<string, string>();
  let enrolled: { id: string; username: string; password: string; seed: string };

  beforeAll(async () => {
    bed = await startTestBed({ GATEHOUSE_MASTER_KEY: oldKey.toString('base64url') });
    const askForMfa = { params: { acr_values: acrMfa } };

    // Enrolled through the pages, then recovery codes replaced once: both sets were shown in clear.
    const user = await bed.gh.createUser();
    const first = await SignIn.begin(bed, askForMfa);
    await first.password(user);
    const { seed, recoveryCodes: initial } = await first.enrol();
    seeds.set('enrolled seed', seed);
    initial.forEach((code, i) => recoveryCodes.set(`first recovery code ${i}`, code));
    enrolled = { ...user, seed };

    const recovery = await SignIn.begin(bed);
    await recovery.password(user);
    recovery.page = await recovery.agent.request(`${recovery.interactionUrl}/recovery`);
    await recovery.submit('recovery', { code: initial[0]! });
    await recovery.submit('recovery-codes');
    recovery.recoveryCodes.forEach((code, i) => recoveryCodes.set(`second recovery code ${i}`, code));
    expect(recovery.recoveryCodes).toHaveLength(10);
    await recovery.submit('continue');

    // An enrolment left half-way: its seed sits in the pending sign-in.
    const other = await bed.gh.createUser();
    const halfway = await SignIn.begin(bed, askForMfa);
    await halfway.password(other);
    seeds.set('seed of an unconfirmed enrolment', halfway.enrolmentSeed);
  });
  afterAll(() => bed?.gh.close());

  it('finds no seed or recovery code in a dump of every table', async () => {
    expect(seeds.size).toBe(2);
    expect(recoveryCodes.size).toBe(20);
    const dump = await dumpDatabase(bed.gh.app.db);
    expect(dump).toContain('v1.'); // the sealed seeds are there, as ciphertext
    for (const [name, seed] of seeds) {
      for (const form of encodings(seed, base32.decode(seed))) expect(dump.includes(form), `${name} found as ${form}`).toBe(false);
      expect(dump.includes('otpauth://'), 'an otpauth URI').toBe(false);
    }
    for (const [name, code] of recoveryCodes) {
      for (const form of [...encodings(code), ...encodings(code.replace('-', ''))]) expect(dump.includes(form), `${name} found as ${form}`).toBe(false);
    }
  });

  it('re-seals seeds, recovery-code keys and pending enrolments under a new master secret', async () => {
    const newKey = randomBytes(32);
    const { db } = bed.gh.app;
    const settings = { maxFailures: 5, maxFailuresPerIp: 100, windowSeconds: 900 };
    const mfaUnder = (current: Buffer, previous: Buffer[] = []) => {
      const secrets = createSecretBox(current, previous);
      return createMfaService({ db, secrets, audit: noAudit, lockout: createLockout(db, settings, secrets.deriveKey('lockout-login-bucket')), totpIssuer: 'x', hasPasskey: async () => false });
    };

    const rotating = mfaUnder(newKey, [oldKey]);
    const progress: Array<[number, number]> = [];
    expect(await rotating.rewrap((done, total) => progress.push([done, total]))).toBe(2);
    expect(progress).toEqual([[1, 2], [2, 2]]);
    expect(await rotating.rewrap()).toBe(0);

    // The new secret alone now opens everything: a TOTP code and a recovery code verify.
    const rotated = mfaUnder(newKey);
    await awaitStableStep();
    expect(await rotated.verifyTotp(enrolled.id, await totp(enrolled.seed, 1), { ip: '192.0.2.1' })).toEqual({ ok: true });
    const unused = [...recoveryCodes].filter(([name]) => name.startsWith('second')).map(([, code]) => code);
    expect(await rotated.useRecoveryCode(enrolled.id, unused[5]!, { ip: '192.0.2.1' })).toMatchObject({ ok: true, recoveryCodesLeft: 9 });
    // And the old one alone no longer does.
    await expect(mfaUnder(oldKey).verifyTotp(enrolled.id, '123456', { ip: '192.0.2.1' })).rejects.toBeInstanceOf(SecretBoxError);
  });
});
