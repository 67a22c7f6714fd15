/**
 * `gatehouse clients update`: what an operator lets a client do beyond its
 * protocol metadata (which tokens it may introspect, its default resource
 * server), and the same options on `clients add`.
 */
import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import type { ClientAccessChange } from '../clients/access.js';
import { ClientError } from '../clients/clients.js';
import { clientJson, collect } from './client-json.js';
import { withContext } from './context.js';
import { CliError } from './errors.js';
import { printFields, printJson } from './output.js';

interface AccessOptions {
  introspect?: string[] | false;
  defaultResource?: string | false;
}

/** What the options change; undefined when they change nothing. */
export function accessChange(options: AccessOptions): ClientAccessChange | undefined {
  const change: ClientAccessChange = {};
  if (options.introspect !== undefined) change.introspects = options.introspect === false ? [] : options.introspect;
  if (options.defaultResource !== undefined) change.defaultResource = options.defaultResource === false ? null : options.defaultResource;
  return Object.keys(change).length ? change : undefined;
}

/** A client whose access could not be set is not left behind half made. */
export function undoCreate(context: Parameters<Parameters<typeof withContext>[0]>[0], clientId: string) {
  return async (error: unknown): Promise<never> => {
    await context.services.clients.remove(operator, clientId).catch(() => undefined);
    if (error instanceof ClientError) throw new CliError(error.message);
    throw error;
  };
}

async function update(clientId: string, options: AccessOptions & { json?: boolean }): Promise<void> {
  const change = accessChange(options);
  if (!change) throw new CliError('nothing to change: give --introspect, --no-introspect, --default-resource or --no-default-resource');
  await withContext(async (context) => {
    const client = await context.services.clients.setAccess(operator, clientId, change).catch((error: unknown) => {
      if (error instanceof ClientError) throw new CliError(error.message === 'no such client' ? `no such client: ${clientId}` : error.message);
      throw error;
    });
    if (options.json) return printJson(clientJson(client));
    printFields([
      ['client_id', client.clientId],
      ['introspects', client.introspects.length ? client.introspects : '(its own tokens only)'],
      ['default resource', client.defaultResource ?? '(none)'],
    ]);
  });
}


export function registerClientAccessCommands(clients: Command): void {
  clients
    .command('update')
    .description('change what an operator lets a client do: which tokens it may introspect, its default resource server')
    .argument('<client_id>', 'the client id')
    .option('--introspect <audience>', 'may introspect tokens for this resource server (repeatable; replaces the list), `*` for every token', collect)
    .option('--no-introspect', 'may introspect only its own tokens (and those whose audience is its client id)')
    .option('--default-resource <audience>', 'token requests that name no `resource` are for this resource server')
    .option('--no-default-resource', 'token requests that name no resource get an opaque token again')
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
Examples:
  $ gatehouse clients update <api-client-id> --introspect https://api.example.com
  $ gatehouse clients update <gateway-client-id> --introspect '*'
  $ gatehouse clients update <worker-client-id> --default-resource https://api.example.com`)
    .action(update);
}
