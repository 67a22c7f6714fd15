import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import type { Account } from '../accounts/accounts.js';
import { newAccountSchema } from '../accounts/schemas.js';
import { withContext, type CliContext } from './context.js';
import { registerEmailCommands } from './email.js';
import { registerInvitationCommands } from './invitations.js';
import { registerSecondFactorCommands } from './mfa.js';
import { registerPasskeyCommands } from './passkeys.js';
import { CliError, withInput } from './errors.js';
import { isoDate, out, printFields, printJson, printTable } from './output.js';
import { assertPasswordSource, readNewPassword } from './password.js';

export function accountJson(account: Account) {
  return {
    id: account.id,
    username: account.username,
    email: account.email,
    email_verified: account.emailVerified,
    name: account.name,
    given_name: account.givenName,
    family_name: account.familyName,
    disabled: account.disabled,
    admin: account.admin,
    created_at: isoDate(account.createdAt),
    updated_at: isoDate(account.updatedAt),
  };
}

async function findAccount({ services }: CliContext, user: string): Promise<Account> {
  const account = await services.accounts.find(user);
  if (!account) throw new CliError(`no such account: ${user}`);
  return account;
}

const status = (disabled: boolean) => (disabled ? 'disabled' : 'enabled');

interface AddOptions {
  email?: string;
  emailVerified?: boolean;
  name?: string;
  givenName?: string;
  familyName?: string;
  passwordStdin?: boolean;
}

async function add(username: string, options: AddOptions): Promise<void> {
  const profile = {
    username,
    email: options.email,
    emailVerified: options.emailVerified ?? false,
    name: options.name,
    givenName: options.givenName,
    familyName: options.familyName,
  };
  // Everything but the password is checked before anyone types one.
  assertPasswordSource({ fromStdin: options.passwordStdin === true });
  await withInput(profile, async (input) => newAccountSchema.omit({ password: true }).parse(input));
  await withContext(async (context) => {
    if (await context.services.accounts.find(username)) throw new CliError(`an account named ${username} already exists`);
    const password = await readNewPassword({ fromStdin: options.passwordStdin === true });
    const account = await withInput({ ...profile, password }, (input) => context.services.accounts.create(operator, input));
    out(account.id);
  });
}

async function list(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const accounts = await services.accounts.list();
    if (options.json) return printJson(accounts.map(accountJson));
    printTable(
      accounts,
      [
        { header: 'ID', value: (a) => a.id },
        { header: 'USERNAME', value: (a) => a.username },
        { header: 'EMAIL', value: (a) => (a.email ? `${a.email}${a.emailVerified ? '' : ' (unverified)'}` : null) },
        { header: 'NAME', value: (a) => a.name },
        { header: 'STATUS', value: (a) => status(a.disabled) },
        { header: 'CREATED', value: (a) => isoDate(a.createdAt) },
      ],
      'no accounts yet: add one with `gatehouse users add <username>`',
    );
  });
}

async function show(user: string, options: { json?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    if (options.json) return printJson(accountJson(account));
    printFields([
      ['id', account.id],
      ['username', account.username],
      ['email', account.email],
      ['email verified', account.email ? account.emailVerified : null],
      ['name', account.name],
      ['given name', account.givenName],
      ['family name', account.familyName],
      ['status', status(account.disabled)],
      ['created', isoDate(account.createdAt)],
      ['updated', isoDate(account.updatedAt)],
    ]);
  });
}

async function setDisabled(user: string, disabled: boolean): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    await context.services.accounts.setDisabled(operator, account.id, disabled);
    out(`${status(disabled)} ${account.username} (${account.id})`);
  });
}

async function setAdmin(user: string, options: { revoke?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    await context.services.accounts.setAdmin(operator, account.id, options.revoke !== true);
    out(`${options.revoke ? 'revoked admin permission of' : 'granted admin permission to'} ${account.username} (${account.id})`);
  });
}

async function setPassword(user: string, options: { passwordStdin?: boolean }): Promise<void> {
  assertPasswordSource({ fromStdin: options.passwordStdin === true });
  await withContext(async (context) => {
    const account = await findAccount(context, user);
    const password = await readNewPassword({ fromStdin: options.passwordStdin === true });
    await withInput(password, (input) => context.services.accounts.setPassword(operator, account.id, input));
    out(`password changed for ${account.username} (${account.id})`);
  });
}

const passwordHelp = `
The password is never a command-line argument (it would show in \`ps\` and
shell history). With --password-stdin the first line of stdin is used;
otherwise, on a terminal, it is prompted for twice without echo.`;

export function registerUserCommands(program: Command): void {
  const users = program
    .command('users')
    .description('manage user accounts')
    .addHelpText('after', '\n<user> is an account id, username or email address.');

  users
    .command('add')
    .description('create an account and print its id')
    .argument('<username>', '3 to 64 letters, digits, dots, dashes or underscores')
    .option('--email <email>', 'email address')
    .option('--email-verified', 'mark the email address as verified')
    .option('--name <name>', 'full name')
    .option('--given-name <name>', 'given (first) name')
    .option('--family-name <name>', 'family (last) name')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .addHelpText('after', `${passwordHelp}

Examples:
  $ gatehouse users add alice --email alice@example.com --name "Alice Liddell"
  $ printf '%s\\n' "$ALICE_PASSWORD" | gatehouse users add alice --password-stdin`)
    .action(add);

  users
    .command('list')
    .description('list accounts')
    .option('--json', 'print a JSON array')
    .action(list);

  users
    .command('show')
    .description('show one account')
    .argument('<user>', 'account id, username or email')
    .option('--json', 'print a JSON object')
    .addHelpText('after', '\nExample:\n  $ gatehouse users show alice@example.com --json')
    .action(show);

  users
    .command('set-admin')
    .description('give an account the built-in administrator role (the admin API with its own token; writes need a recent second factor)')
    .argument('<user>', 'account id, username or email')
    .option('--revoke', 'take the administrator role away instead')
    .action(setAdmin);

  users
    .command('disable')
    .description('disable an account (it can no longer sign in)')
    .argument('<user>', 'account id, username or email')
    .action((user: string) => setDisabled(user, true));

  users
    .command('enable')
    .description('enable a disabled account')
    .argument('<user>', 'account id, username or email')
    .action((user: string) => setDisabled(user, false));

  users
    .command('set-password')
    .description("replace an account's password")
    .argument('<user>', 'account id, username or email')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .addHelpText('after', `${passwordHelp}

Example:
  $ gatehouse users set-password alice`)
    .action(setPassword);

  registerSecondFactorCommands(users);
  registerEmailCommands(users);
  registerInvitationCommands(users);
  registerPasskeyCommands(users);
}
