/**
 * `gatehouse users mfa …` and `gatehouse users unlock`: an operator's view of
 * an account's second factor and lockout, and the ways to change them.
 */
import type { Command } from 'commander';

import type { Account } from '../accounts/accounts.js';
import { operator } from '../audit/events.js';
import { totpCodeSchema } from '../mfa/schemas.js';
import { qrText } from '../mfa/totp.js';
import { withContext, type CliContext } from './context.js';
import { io } from './io.js';
import { readFirstLine } from './password.js';
import { CliError } from './errors.js';
import { isoDate, note, out, printFields, printJson } from './output.js';

async function findAccount({ services }: CliContext, user: string): Promise<Account> {
  const account = await services.accounts.find(user);
  if (!account) throw new CliError(`no such account: ${user}`);
  return account;
}

/** One line from stdin, prompting on stderr when a person is typing. */
async function readLine(prompt: string): Promise<string | undefined> {
  const { stdin, stderr } = io();
  if (stdin.isTTY) stderr.write(prompt);
  return readFirstLine(stdin);
}

async function status(user: string, options: { json?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    const mfa = await context.services.mfa.status(account.id);
    const lockout = await context.services.accounts.lockoutStatus(account.id);
    if (options.json) {
      return printJson({
        id: account.id,
        username: account.username,
        totp: mfa.enrolled,
        enrolled_at: isoDate(mfa.enrolledAt),
        last_used_at: isoDate(mfa.lastUsedAt),
        recovery_codes_left: mfa.recoveryCodesLeft,
        failed_attempts: lockout.failures,
        locked: lockout.locked,
        lockout_window_ends_at: isoDate(lockout.resetsAt),
      });
    }
    printFields([
      ['account', `${account.username} (${account.id})`],
      ['two-step verification', mfa.enrolled ? 'on (TOTP)' : 'off'],
      ['enrolled', isoDate(mfa.enrolledAt)],
      ['last code used', isoDate(mfa.lastUsedAt)],
      ['recovery codes left', mfa.enrolled ? mfa.recoveryCodesLeft : null],
      ['failed attempts', lockout.failures],
      ['locked', lockout.locked ? `yes, until ${isoDate(lockout.resetsAt)}` : 'no'],
    ]);
  });
}

async function enrol(user: string): Promise<void> {
  await withContext(async (context) => {
    const { mfa } = context.services;
    const account = await findAccount(context, user);
    if ((await mfa.status(account.id)).enrolled) throw new CliError(`${account.username} already has two-step verification; \`gatehouse users mfa reset ${account.username}\` first to replace it`);
    const seed = mfa.newSeed();
    const display = await mfa.describeEnrolment(account.username, seed);
    // Nothing is stored until a code confirms the app holds the seed; the seed lives only in this process until then.
    if (io().stderr.isTTY) io().stderr.write(`${await qrText(display.uri)}\n`);
    out(`setup key: ${display.groupedSeed}`);
    out(`otpauth URI: ${display.uri}`);
    const line = await readLine('Code from the authenticator app: ');
    const code = totpCodeSchema.safeParse(line ?? '');
    if (!code.success) throw new CliError('expected the 6-digit code the authenticator app shows; nothing was changed');
    const result = await mfa.confirmEnrolment(operator, account.id, seed, code.data);
    if (!result.ok) {
      throw new CliError(result.reason === 'already_enrolled'
        ? `${account.username} enrolled a factor in the meantime; nothing was changed`
        : 'that code did not match (check the device clock); nothing was changed');
    }
    note(`two-step verification is on for ${account.username}; the recovery codes below are shown only this once`);
    for (const code of result.recoveryCodes) out(code);
  });
}

async function regenerateRecoveryCodes(user: string): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    const codes = await context.services.mfa.regenerateRecoveryCodes(operator, account.id);
    if (!codes) throw new CliError(`${account.username} has no two-step verification; enrol first`);
    note(`the old recovery codes of ${account.username} no longer work; the new ones below are shown only this once`);
    for (const code of codes) out(code);
  });
}

async function reset(user: string): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    const removed = await context.services.mfa.reset(operator, account.id);
    if (!removed) {
      out(`${account.username} has no two-step verification; nothing to reset`);
      return;
    }
    out(`two-step verification removed from ${account.username} (${account.id})`);
    note('the account signs in with its password alone until it enrols again (at once, where a client or GATEHOUSE_MFA_REQUIRED asks for a second factor)');
  });
}

async function unlock(user: string): Promise<void> {
  await withContext(async (context) => {
    const { account, cleared } = await context.services.accounts.unlock(operator, (await findAccount(context, user)).id);
    if (!cleared) {
      out(`${account.username} was not locked`);
      return;
    }
    out(`unlocked ${account.username} (${account.id})`);
  });
}

/** Adds `mfa` (status, enrol, recovery-codes, reset) and `unlock` to the `users` group. */
export function registerSecondFactorCommands(users: Command): void {
  const mfa = users.command('mfa').description("an account's second factor (TOTP) and recovery codes");

  mfa
    .command('status')
    .description('whether the account has TOTP, its recovery codes left, and its lockout state')
    .argument('<user>', 'account id, username or email')
    .option('--json', 'print a JSON object')
    .action(status);

  mfa
    .command('enrol')
    .alias('enroll')
    .description('set up TOTP for an account: shows the setup key, then asks for a current code')
    .argument('<user>', 'account id, username or email')
    .addHelpText('after', `
Prints the setup key and otpauth URI on stdout (and a QR code on a terminal),
then reads one code from the authenticator app on stdin. Nothing is stored
unless that code matches. The recovery codes are printed once, at the end.
The setup key is a secret: run this only on a trusted terminal.

Example:
  $ gatehouse users mfa enrol alice`)
    .action(enrol);

  mfa
    .command('recovery-codes')
    .description('replace all of an account\'s recovery codes and print the new ones')
    .argument('<user>', 'account id, username or email')
    .action(regenerateRecoveryCodes);

  mfa
    .command('reset')
    .description('remove an account\'s TOTP factor and recovery codes (a lost device)')
    .argument('<user>', 'account id, username or email')
    .action(reset);

  users
    .command('unlock')
    .description('clear the lockout after failed sign-in attempts')
    .argument('<user>', 'account id, username or email')
    .action(unlock);
}
