/**
 * `gatehouse users passkeys …`: an operator's view of an account's passkeys
 * (name, kind, backup state, last use; never key material) and their removal,
 * for a lost or stolen device. The same service as the admin API's
 * /users/{id}/passkeys, audited with the operator as the actor.
 */
import type { Command } from 'commander';

import type { Account } from '../accounts/accounts.js';
import { operator } from '../audit/events.js';
import { passkeyName } from '../passkeys/schemas.js';
import { withContext, type CliContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, out, printJson, printTable } from './output.js';

async function findAccount({ services }: CliContext, user: string): Promise<Account> {
  const account = await services.accounts.find(user);
  if (!account) throw new CliError(`no such account: ${user}`);
  return account;
}

async function list(user: string, options: { json?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    const passkeys = await context.services.passkeys.list(account.id);
    if (options.json) {
      printJson(passkeys.map((p) => ({ id: p.id, name: p.name, device_type: p.deviceType, backed_up: p.backedUp, transports: p.transports, created_at: isoDate(p.createdAt), last_used_at: isoDate(p.lastUsedAt) })));
      return;
    }
    printTable(passkeys, [
      { header: 'ID', value: (p) => p.id },
      { header: 'NAME', value: (p) => p.name },
      { header: 'KIND', value: (p) => (p.deviceType === 'multiDevice' ? 'synced' : 'device-bound') },
      { header: 'BACKED UP', value: (p) => (p.backedUp ? 'yes' : 'no') },
      { header: 'CREATED', value: (p) => isoDate(p.createdAt) },
      { header: 'LAST USED', value: (p) => isoDate(p.lastUsedAt) ?? 'never' },
    ], `${account.username} has no passkeys`);
  });
}

async function remove(user: string, passkeyId: string, options: { json?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    if (!(await context.services.passkeys.remove(operator, account.id, passkeyId))) throw new CliError(`${account.username} has no passkey ${passkeyId} (see \`gatehouse users passkeys list ${account.username}\`)`);
    if (options.json) printJson({ removed: passkeyId, account: account.id });
    else out(`passkey ${passkeyId} removed from ${account.username}; it no longer signs in`);
  });
}

async function rename(user: string, passkeyId: string, name: string, options: { json?: boolean }): Promise<void> {
  const parsed = passkeyName.safeParse(name);
  if (!parsed.success) throw new CliError('a passkey name is 1 to 64 characters, without control characters');
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    if (!(await context.services.passkeys.rename(operator, account.id, passkeyId, parsed.data))) throw new CliError(`${account.username} has no passkey ${passkeyId}`);
    if (options.json) printJson({ id: passkeyId, name: parsed.data });
    else out(`passkey ${passkeyId} of ${account.username} is now "${parsed.data}"`);
  });
}

/** Adds `passkeys` (list, rename, remove) to the `users` group. */
export function registerPasskeyCommands(users: Command): void {
  const passkeys = users.command('passkeys').description("an account's passkeys (WebAuthn credentials)");

  passkeys
    .command('list', { isDefault: true })
    .description("list an account's passkeys: name, kind, backup state, creation and last use")
    .argument('<user>', 'account id, username or email')
    .option('--json', 'print a JSON array')
    .action(list);

  passkeys
    .command('rename')
    .description('give a passkey another name')
    .argument('<user>', 'account id, username or email')
    .argument('<passkey-id>', 'the ID column of `passkeys list`')
    .argument('<name>', 'up to 64 characters')
    .option('--json', 'print a JSON object')
    .action(rename);

  passkeys
    .command('remove')
    .description('remove a passkey (a lost or stolen device): it no longer signs in')
    .argument('<user>', 'account id, username or email')
    .argument('<passkey-id>', 'the ID column of `passkeys list`')
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
Sessions the passkey already started are not ended; to end those too:
  $ gatehouse sessions revoke <user> --all`)
    .action(remove);
}
