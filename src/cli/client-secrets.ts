/**
 * `gatehouse clients rotate-secret | secrets | end-overlap`: the CLI side of
 * secret rotation with overlap (src/clients/secret-rotation.ts), the same
 * service the admin API calls.
 */
import { InvalidArgumentError, type Command } from 'commander';

import { operator } from '../audit/events.js';
import { ClientError } from '../clients/clients.js';
import { parseDuration } from '../config/duration.js';
import { withContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, note, out, printJson, printTable } from './output.js';

function parseOverlap(value: string): number {
  const seconds = value === '0' ? 0 : parseDuration(value);
  if (seconds === undefined || seconds > 90 * 86_400) throw new InvalidArgumentError('expected a duration up to 90d, such as 0, 15m, 24h or 7d');
  return seconds;
}

const naming = (clientId: string) => (error: unknown): never => {
  if (error instanceof ClientError) throw new CliError(`${error.message}: ${clientId}`);
  throw error;
};

async function rotate(clientId: string, options: { overlap?: number; json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const { clientSecret, previousExpiresAt } = await services.clientSecrets
      .rotate(operator, clientId, options.overlap !== undefined ? { overlapSeconds: options.overlap } : {})
      .catch(naming(clientId));
    if (options.json) return printJson({ client_id: clientId, client_secret: clientSecret, previous_expires_at: isoDate(previousExpiresAt) });
    out(`client_secret: ${clientSecret}`);
    note(`shown once: store it now. The previous secret keeps working until ${isoDate(previousExpiresAt)}.`);
  });
}

async function list(clientId: string, options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const secrets = await services.clientSecrets.list(clientId).catch(naming(clientId));
    if (options.json) return printJson(secrets.map((s) => ({ id: s.id, state: s.state, created_at: isoDate(s.createdAt), expires_at: s.expiresAt && isoDate(s.expiresAt), last_used_at: s.lastUsedAt && isoDate(s.lastUsedAt) })));
    printTable(
      secrets,
      [
        { header: 'ID', value: (s) => s.id },
        { header: 'STATE', value: (s) => s.state },
        { header: 'CREATED', value: (s) => isoDate(s.createdAt) },
        { header: 'EXPIRES', value: (s) => (s.expiresAt ? isoDate(s.expiresAt) : '-') },
        { header: 'LAST USED', value: (s) => (s.lastUsedAt ? isoDate(s.lastUsedAt) : '-') },
      ],
      'this client has no shared secret',
    );
  });
}

async function endOverlap(clientId: string, secretId: string): Promise<void> {
  await withContext(async ({ services }) => {
    await services.clientSecrets.revokePrevious(operator, clientId, secretId).catch(naming(clientId));
    out(`previous secret ${secretId} of ${clientId} no longer works`);
  });
}

export function registerClientSecretCommands(clients: Command): void {
  clients
    .command('rotate-secret')
    .description('issue a new client secret (shown once); the previous one keeps working until the overlap ends')
    .argument('<client_id>', 'the client id')
    .option('--overlap <duration>', 'how long the previous secret keeps working (0 ends it now)', parseOverlap)
    .option('--json', 'print JSON')
    .action(rotate);
  clients
    .command('secrets')
    .description("list a client's secrets: created, expires, last used (never their values)")
    .argument('<client_id>', 'the client id')
    .option('--json', 'print a JSON array')
    .action(list);
  clients
    .command('end-overlap')
    .description('stop a previous secret working now, before its overlap ends')
    .argument('<client_id>', 'the client id')
    .argument('<secret_id>', 'the previous secret id (`clients secrets`)')
    .action(endOverlap);
}
