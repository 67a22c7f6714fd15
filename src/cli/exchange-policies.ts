import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import { parseDuration } from '../config/duration.js';
import { withContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { out, printFields, printJson } from './output.js';

interface SetOptions { audience: string[]; impersonate?: boolean; maxLifetime: string; json?: boolean }

async function set(clientId: string, options: SetOptions): Promise<void> {
  const maxLifetimeSeconds = parseDuration(options.maxLifetime);
  if (maxLifetimeSeconds === undefined) throw new CliError('--max-lifetime: expected a duration such as 5m or 300');
  const input = { audiences: options.audience, mayImpersonate: options.impersonate === true, maxLifetimeSeconds };
  await withContext(async (context) => {
    const policy = await withInput(input, (i) => context.services.exchangePolicies.set(operator, clientId, i));
    if (options.json) return printJson(policy);
    printFields([['client', policy.clientId], ['audiences', policy.audiences], ['impersonation', policy.mayImpersonate ? 'allowed' : 'refused (an actor_token is needed)'], ['max lifetime', `${policy.maxLifetimeSeconds}s`]]);
  });
}

async function show(clientId: string, options: { json?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const policy = await context.services.exchangePolicies.find(clientId);
    if (!policy) throw new CliError(`client ${clientId} has no token-exchange policy: it may not use token exchange`);
    if (options.json) return printJson(policy);
    printFields([['client', policy.clientId], ['audiences', policy.audiences], ['impersonation', policy.mayImpersonate ? 'allowed' : 'refused'], ['max lifetime', `${policy.maxLifetimeSeconds}s`]]);
  });
}

async function remove(clientId: string): Promise<void> {
  await withContext(async (context) => {
    await context.services.exchangePolicies.remove(operator, clientId);
    out(`client ${clientId} may no longer use token exchange`);
  });
}

export function registerExchangePolicyCommands(program: Command): void {
  const group = program.command('exchange-policies').description('which clients may use token exchange (RFC 8693), into which audiences, and whether they may impersonate');
  group
    .command('set')
    .description('allow a client to exchange tokens (replaces its policy)')
    .argument('<client-id>', 'the client that calls /token')
    .requiredOption('--audience <audience...>', 'resource servers it may exchange tokens for')
    .option('--impersonate', 'allow tokens that are the subject with no `act` claim (no actor_token)')
    .option('--max-lifetime <duration>', 'longest lifetime of an exchanged token', '5m')
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
Example:
  $ gatehouse exchange-policies set gateway --audience https://orders.example.com --max-lifetime 2m`)
    .action(set);
  group.command('show').description('print a client\'s policy').argument('<client-id>').option('--json', 'print a JSON object').action(show);
  group.command('remove').description('stop a client from using token exchange').argument('<client-id>').action(remove);
}
