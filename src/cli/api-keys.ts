import type { Command } from 'commander';

import type { ApiKey } from '../api-keys/api-keys.js';
import { maxApiKeyLifetimeSeconds } from '../api-keys/schemas.js';
import { operator } from '../audit/events.js';
import { parseDuration } from '../config/duration.js';
import { withContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { isoDate, note, out, printFields, printJson, printTable } from './output.js';

export function apiKeyJson(key: ApiKey) {
  return {
    id: key.id,
    status: key.status,
    owner: `${key.owner.kind}:${key.owner.id}`,
    name: key.name,
    scopes: key.scopes,
    allowed_cidrs: key.allowedCidrs,
    rate_limit: `${key.rateLimit.count}/${key.rateLimit.windowSeconds}s`,
    expires_at: isoDate(key.expiresAt),
    revoked_at: isoDate(key.revokedAt),
    rotated_from: key.rotatedFrom,
    last_used_at: isoDate(key.lastUsedAt),
    last_used_ip: key.lastUsedIp,
    created_at: isoDate(key.createdAt),
  };
}

function seconds(option: string, text: string, min: number, max: number): number {
  const value = parseDuration(text);
  if (value === undefined || value < min || value > max) throw new CliError(`${option}: expected a duration such as 90d, 12h or 3600`);
  return value;
}

/** `client:<id>` or `user:<id>`. */
function owner(text: string): { kind: 'client' | 'user'; id: string } {
  const match = /^(client|user):(.+)$/.exec(text);
  if (!match) throw new CliError('--owner: expected client:<client id> or user:<user id>');
  return { kind: match[1] as 'client' | 'user', id: match[2]! };
}

/** `60/1m`: exchanges per window. */
function budget(text: string): { count: number; windowSeconds: number } {
  const [count, window] = text.split('/');
  const windowSeconds = window ? parseDuration(window) : undefined;
  if (!count || !/^\d+$/.test(count) || windowSeconds === undefined) throw new CliError('--rate-limit: expected exchanges per window, such as 60/1m');
  return { count: Number(count), windowSeconds };
}

interface CreateOptions { owner: string; name: string; scope?: string; expires: string; cidr?: string[]; rateLimit: string; json?: boolean }

function printKey(key: ApiKey, value: string, json: boolean | undefined): void {
  if (json) printJson({ ...apiKeyJson(key), key: value });
  else printFields([['id', key.id], ['key', value], ['owner', `${key.owner.kind}:${key.owner.id}`], ['scopes', key.scopes.join(' ') || '(none)'], ['expires', isoDate(key.expiresAt)]]);
  note('the key is shown only this once; Gatehouse keeps only its hash. Revoke it with `gatehouse api-keys revoke <id>`');
}

async function create(options: CreateOptions): Promise<void> {
  const input = {
    owner: owner(options.owner),
    name: options.name,
    scopes: options.scope ? options.scope.split(' ').filter(Boolean) : [],
    expiresInSeconds: seconds('--expires', options.expires, 60, maxApiKeyLifetimeSeconds),
    allowedCidrs: options.cidr ?? [],
    rateLimit: budget(options.rateLimit),
  };
  await withContext(async (context) => {
    const { key, value } = await withInput(input, (i) => context.services.apiKeys.create(operator, i));
    printKey(key, value, options.json);
  });
}

async function list(options: { owner?: string; json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const keys = await services.apiKeys.list(options.owner ? owner(options.owner) : undefined);
    if (options.json) return printJson(keys.map(apiKeyJson));
    printTable(
      keys,
      [
        { header: 'ID', value: (k) => k.id },
        { header: 'STATUS', value: (k) => k.status },
        { header: 'OWNER', value: (k) => `${k.owner.kind}:${k.owner.id}` },
        { header: 'NAME', value: (k) => k.name },
        { header: 'EXPIRES', value: (k) => isoDate(k.expiresAt) },
        { header: 'LAST USED', value: (k) => (k.lastUsedAt ? `${isoDate(k.lastUsedAt)} from ${k.lastUsedIp ?? '?'}` : 'never') },
      ],
      'no API keys yet: make one with `gatehouse api-keys create`',
    );
  });
}

async function rotate(id: string, options: { overlap: string; json?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const overlapSeconds = seconds('--overlap', options.overlap, 0, 30 * 86_400);
    const { key, value, previous } = await context.services.apiKeys.rotate(operator, id, { overlapSeconds });
    printKey(key, value, options.json);
    note(`the previous key ${previous.id} works until ${isoDate(previous.expiresAt) ?? 'now'}`);
  });
}

async function revoke(id: string): Promise<void> {
  await withContext(async (context) => {
    await context.services.apiKeys.revoke(operator, id);
    out(`revoked API key ${id}: refused from the next request on, on every node`);
  });
}

export function registerApiKeyCommands(program: Command): void {
  const keys = program.command('api-keys').description('API keys: long-lived keys of a service client or a user, exchanged at /token for short-lived JWTs');
  keys
    .command('create')
    .description('make a key and print it (once)')
    .requiredOption('--owner <client:id|user:id>', 'the service client or user the key acts as')
    .requiredOption('--name <text>', 'what the key is for, shown by `api-keys list`')
    .option('--scope <scopes>', 'space-separated scopes a token exchanged for the key may carry, at most')
    .option('--expires <duration>', 'how long the key lives, e.g. 90d', '90d')
    .option('--cidr <range...>', 'client address ranges the key is accepted from (default: anywhere)')
    .option('--rate-limit <n/window>', 'the key\'s own budget of exchanges', '60/1m')
    .option('--json', 'print a JSON object (including the key)')
    .addHelpText('after', `
The key (ghk_…, with a CRC32 checksum secret scanners recognise) is printed once
and stored only as a hash. Exchange it at /token with grant_type
urn:ietf:params:oauth:grant-type:token-exchange and subject_token_type
urn:gatehouse:params:oauth:token-type:api-key (docs/token-exchange.md).

Examples:
  $ gatehouse api-keys create --owner client:billing --name "nightly export" --scope "invoices:read" --cidr 10.0.0.0/8
  $ gatehouse api-keys create --owner user:3f2c… --name laptop --expires 30d --rate-limit 10/1m --json`)
    .action(create);
  keys.command('list').description('list keys with their status and last use (never their values)').option('--owner <client:id|user:id>', 'only this owner\'s keys').option('--json', 'print a JSON array').action(list);
  keys
    .command('rotate')
    .description('make a replacement key; the old one keeps working for the overlap')
    .argument('<id>', 'the key id shown by `api-keys list`')
    .option('--overlap <duration>', 'how long the old key still works', '1d')
    .option('--json', 'print a JSON object (including the new key)')
    .action(rotate);
  keys.command('revoke').description('stop a key at once, on every node').argument('<id>', 'the key id shown by `api-keys list`').action(revoke);
}
