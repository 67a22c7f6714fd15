import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import { parseDuration } from '../config/duration.js';
import { maxIatLifetimeSeconds, type InitialAccessToken } from '../registration/initial-access-tokens.js';
import { withContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { isoDate, note, out, printFields, printJson, printTable } from './output.js';

export function iatJson(token: InitialAccessToken) {
  return {
    id: token.id,
    status: token.status,
    policy: token.policy,
    description: token.description,
    uses: token.uses,
    max_uses: token.maxUses,
    expires_at: isoDate(token.expiresAt),
    revoked_at: isoDate(token.revokedAt),
    last_used_at: isoDate(token.lastUsedAt),
    created_at: isoDate(token.createdAt),
  };
}

interface CreateOptions {
  policy?: string;
  expires: string;
  uses: string;
  description?: string;
  json?: boolean;
}

function expiresIn(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined || seconds < 60 || seconds > maxIatLifetimeSeconds) {
    throw new CliError('--expires: expected a duration between 1m and 366d, such as 7d, 12h or 3600');
  }
  return seconds;
}

function uses(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 1_000_000) throw new CliError('--uses: expected a whole number of registrations from 1 to 1000000');
  return value;
}

async function create(options: CreateOptions): Promise<void> {
  const input = {
    policy: options.policy,
    description: options.description,
    expiresInSeconds: expiresIn(options.expires),
    maxUses: uses(options.uses),
  };
  await withContext(async (context) => {
    const { token, value } = await withInput(input, (i) => context.services.initialAccessTokens.create(operator, i));
    if (options.json) {
      printJson({ ...iatJson(token), token: value });
    } else {
      printFields([
        ['id', token.id],
        ['token', value],
        ['policy', token.policy ?? '(baseline)'],
        ['uses', `${token.maxUses} registration${token.maxUses === 1 ? '' : 's'}`],
        ['expires', isoDate(token.expiresAt)],
      ]);
    }
    note('the token is shown only this once; Gatehouse keeps only its hash. Revoke it with `gatehouse iat revoke <id>`');
  });
}

async function list(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const tokens = await services.initialAccessTokens.list();
    if (options.json) return printJson(tokens.map(iatJson));
    printTable(
      tokens,
      [
        { header: 'ID', value: (t) => t.id },
        { header: 'STATUS', value: (t) => t.status },
        { header: 'POLICY', value: (t) => t.policy ?? '(baseline)' },
        { header: 'USES', value: (t) => `${t.uses}/${t.maxUses}` },
        { header: 'EXPIRES', value: (t) => isoDate(t.expiresAt) },
        { header: 'DESCRIPTION', value: (t) => t.description },
      ],
      'no initial access tokens yet: mint one with `gatehouse iat create`',
    );
  });
}

async function revoke(id: string): Promise<void> {
  await withContext(async (context) => {
    await context.services.initialAccessTokens.revoke(operator, id);
    out(`revoked initial access token ${id}`);
  });
}

export function registerIatCommands(program: Command): void {
  const iat = program.command('iat').description('initial access tokens: who may register clients dynamically (RFC 7591), under which policy');

  iat
    .command('create')
    .description('mint a token and print it (once)')
    .option('--policy <name>', 'registration policy the clients registered with it answer to (default: the baseline)')
    .option('--expires <duration>', 'how long the token can be used, e.g. 12h or 7d', '7d')
    .option('--uses <n>', 'how many clients it can register', '1')
    .option('--description <text>', 'who it is for, shown by `iat list`')
    .option('--json', 'print a JSON object (including the token)')
    .addHelpText('after', `
The token is printed once and stored only as a hash. Hand it to the developer,
who sends it as a Bearer token to the registration endpoint (/reg).

Examples:
  $ gatehouse iat create --policy partners --expires 7d --uses 3 --description "ACME integration"
  $ gatehouse iat create --json`)
    .action(create);

  iat.command('list').description('list tokens with their status and uses (never their values)').option('--json', 'print a JSON array').action(list);

  iat
    .command('revoke')
    .description('stop a token from registering more clients (clients it registered stay)')
    .argument('<id>', 'the token id shown by `iat create` and `iat list`')
    .action(revoke);
}
