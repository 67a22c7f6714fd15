/**
 * `gatehouse users mfa status|enrol|recovery-codes|reset` and `users unlock`,
 * run as real child processes against a fresh database (one process at a
 * time: embedded PGlite serves one).
 */
import { generate } from 'otplib';
import { afterAll, describe, expect, test } from 'vitest';

import { cli, withServices } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

const seedFrom = (stdout: string) => /^setup key: ([A-Z2-7 ]+)$/m.exec(stdout)?.[1]?.replace(/ /g, '');
const codeFor = (seed: string, offset = 0) => generate({ secret: seed, epoch: Math.floor(Date.now() / 1000) + offset * 30 });
const recoveryCodeLines = (stdout: string) => stdout.split('\n').filter((l) => /^[0-9a-z]{5}-[0-9a-z]{5}$/.test(l));

const databases: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(databases.map((db) => db.cleanup()));
});

describe('gatehouse users mfa / unlock', () => {
  test('status, enrol, recovery-codes, unlock and reset', { timeout: 240_000 }, async () => {
    const db = await freshDatabase(integrationDbKind());
    databases.push(db);
    const added = await cli(db, ['users', 'add', 'alice', '--email', 'alice@example.com', '--password-stdin'], { stdin: 'correct horse battery staple\n' });
    expect(added.code, added.stderr).toBe(0);
    const id = added.stdout.trim();

    const before = await cli(db, ['users', 'mfa', 'status', 'alice', '--json']);
    expect(before.code, before.stderr).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({ id, username: 'alice', totp: false, recovery_codes_left: 0, failed_attempts: 0, locked: false });

    // A wrong code stores nothing.
    const refused = await cli(db, ['users', 'mfa', 'enrol', 'alice'], { answer: async (out) => (seedFrom(out) && out.includes('otpauth://') ? '000000' === (await codeFor(seedFrom(out)!)) ? '111111' : '000000' : undefined) });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^gatehouse: that code did not match/m);
    expect(JSON.parse((await cli(db, ['users', 'mfa', 'status', 'alice', '--json'])).stdout).totp).toBe(false);

    let seed = '';
    const enrolled = await cli(db, ['users', 'mfa', 'enrol', 'alice@example.com'], {
      answer: async (out) => {
        if (!seedFrom(out) || !out.includes('otpauth://')) return undefined;
        seed = seedFrom(out)!;
        return codeFor(seed);
      },
    });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(seed).toMatch(/^[A-Z2-7]{32}$/);
    const uri = /^otpauth URI: (.+)$/m.exec(enrolled.stdout)![1]!;
    expect(uri).toBe(`otpauth://totp/localhost:alice?secret=${seed}&issuer=localhost`);
    const firstCodes = recoveryCodeLines(enrolled.stdout);
    expect(firstCodes).toHaveLength(10);
    expect(enrolled.stderr).toContain('shown only this once');

    const after = JSON.parse((await cli(db, ['users', 'mfa', 'status', 'alice', '--json'])).stdout);
    expect(after).toMatchObject({ totp: true, recovery_codes_left: 10 });
    expect(Date.parse(after.enrolled_at)).toBeGreaterThan(Date.now() - 600_000);
    const human = await cli(db, ['users', 'mfa', 'status', 'alice']);
    expect(human.stdout).toMatch(/two-step verification: +on \(TOTP\)/);

    const again = await cli(db, ['users', 'mfa', 'enrol', 'alice']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has two-step verification/);

    const regenerated = await cli(db, ['users', 'mfa', 'recovery-codes', 'alice']);
    expect(regenerated.code, regenerated.stderr).toBe(0);
    const secondCodes = recoveryCodeLines(regenerated.stdout);
    expect(secondCodes).toHaveLength(10);
    expect(secondCodes.filter((c) => firstCodes.includes(c))).toEqual([]);

    // The seed the CLI printed works at sign-in; the old recovery codes do not; five failures lock.
    await withServices(db, async (services) => {
      expect(await services.mfa.verifyTotp(id, await codeFor(seed, 1), { ip: '192.0.2.1' })).toEqual({ ok: true });
      expect(await services.mfa.useRecoveryCode(id, firstCodes[0]!, { ip: '192.0.2.1' })).toMatchObject({ ok: false });
      for (let i = 0; i < 4; i += 1) await services.mfa.verifyTotp(id, '000000', { ip: '192.0.2.1' });
      expect(await services.lockout.status(id)).toMatchObject({ failures: 5, locked: true });
    });

    const locked = JSON.parse((await cli(db, ['users', 'mfa', 'status', 'alice', '--json'])).stdout);
    expect(locked).toMatchObject({ failed_attempts: 5, locked: true });
    expect(Date.parse(locked.lockout_window_ends_at)).toBeGreaterThan(Date.now());
    const unlocked = await cli(db, ['users', 'unlock', 'alice']);
    expect(unlocked.code, unlocked.stderr).toBe(0);
    expect(unlocked.stdout).toBe(`unlocked alice (${id})\n`);
    expect((await cli(db, ['users', 'unlock', 'alice'])).stdout).toBe('alice was not locked\n');
    expect(JSON.parse((await cli(db, ['users', 'mfa', 'status', 'alice', '--json'])).stdout)).toMatchObject({ failed_attempts: 0, locked: false });

    const reset = await cli(db, ['users', 'mfa', 'reset', 'alice']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toBe(`two-step verification removed from alice (${id})\n`);
    expect(JSON.parse((await cli(db, ['users', 'mfa', 'status', 'alice', '--json'])).stdout)).toMatchObject({ totp: false, recovery_codes_left: 0 });
    expect((await cli(db, ['users', 'mfa', 'reset', 'alice'])).stdout).toMatch(/nothing to reset/);
    await withServices(db, async (services) => {
      expect(await services.mfa.hasFactor(id)).toBe(false);
    });

    for (const args of [['users', 'mfa', 'status', 'nobody'], ['users', 'unlock', 'nobody'], ['users', 'mfa', 'reset', 'nobody']]) {
      const missing = await cli(db, args);
      expect(missing.code, args.join(' ')).toBe(1);
      expect(missing.stderr).toBe('gatehouse: no such account: nobody\n');
    }
  });
});
