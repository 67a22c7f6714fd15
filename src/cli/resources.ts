import { InvalidArgumentError, Option, type Command } from 'commander';

import { operator } from '../audit/events.js';
import { parseDuration } from '../config/duration.js';
import { signingAlgorithms } from '../keys/keystore.js';
import { dpopSigningAlgValues } from '../oidc/dpop-algorithms.js';
import { protectedResourceMetadata, protectedResourceMetadataUrl } from '../resources/protected-resource-metadata.js';
import { ResourceError, type NewResource, type ResourceServer } from '../resources/resources.js';
import { withContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { isoDate, note, out, printFields, printJson, printTable } from './output.js';

export function resourceJson(resource: ResourceServer) {
  return {
    audience: resource.audience,
    name: resource.name,
    scopes: resource.scopes,
    access_token_ttl: resource.accessTokenTtl,
    token_format: resource.tokenFormat,
    signing_alg: resource.signingAlg,
    rbac: resource.rbac,
    unheld_scopes: resource.unheldScopes,
    token_claims: resource.tokenClaims,
    created_at: isoDate(resource.createdAt),
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function duration(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined) throw new InvalidArgumentError('expected a duration such as 600, 90s, 15m, 12h or 30d');
  return seconds;
}

/** 3600 → "1h", 90 → "90s": the table reads like the option that set it. */
function formatSeconds(seconds: number): string {
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

interface AddOptions {
  audience: string;
  name: string;
  scope?: string[];
  ttl?: number;
  format?: NewResource['tokenFormat'];
  alg?: NewResource['signingAlg'];
  rbac?: 'on' | 'off';
  unheldScopes?: 'drop' | 'refuse';
  tokenClaim?: Array<'roles' | 'groups'>;
  json?: boolean;
}

const onOff = (value: 'on' | 'off' | undefined) => (value === undefined ? undefined : value === 'on');

function printResource(resource: ResourceServer): void {
  printFields([
    ['audience', resource.audience],
    ['name', resource.name],
    ['scopes', resource.scopes],
    ['access token ttl', formatSeconds(resource.accessTokenTtl)],
    ['token format', resource.tokenFormat],
    ['signing alg', resource.signingAlg],
    ['rbac', resource.rbac ? 'on' : 'off'],
    ['unheld scopes', resource.unheldScopes],
    ['token claims', resource.tokenClaims],
  ]);
}

async function add(options: AddOptions): Promise<void> {
  await withContext(async (context) => {
    const input: NewResource = {
      audience: options.audience,
      name: options.name,
      scopes: options.scope ?? [],
      // Without --ttl, the installation's default lifetime for access tokens (GATEHOUSE_ACCESS_TOKEN_TTL).
      accessTokenTtl: options.ttl ?? context.config.ttl.accessToken,
      tokenFormat: options.format,
      signingAlg: options.alg,
      rbac: onOff(options.rbac),
      unheldScopes: options.unheldScopes,
      tokenClaims: options.tokenClaim,
    };
    const resource = await withInput(input, (value) => context.services.resources.add(operator, value));
    if (options.json) return printJson(resourceJson(resource));
    printResource(resource);
  });
}

async function set(audience: string, options: Pick<AddOptions, 'rbac' | 'unheldScopes' | 'tokenClaim' | 'json'> & { tokenClaims?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const change = {
      rbac: onOff(options.rbac),
      unheldScopes: options.unheldScopes,
      // `--no-token-claims` sets tokenClaims to false (commander's negatable option).
      tokenClaims: options.tokenClaims === false ? [] : options.tokenClaim,
    };
    const resource = await withInput(change, (value) => context.services.resources.setAccessControl(operator, audience, value)).catch((error: unknown) => {
      if (error instanceof ResourceError) throw new CliError(`${error.message}: ${audience}`);
      throw error;
    });
    if (options.json) return printJson(resourceJson(resource));
    printResource(resource);
  });
}

const accessControlOptions = (command: Command) =>
  command
    .addOption(new Option('--rbac <on|off>', 'narrow token scopes to the permissions the user or client holds (docs/rbac.md; on for new servers)').choices(['on', 'off']))
    .addOption(new Option('--unheld-scopes <rule>', 'a requested scope the subject does not hold: drop it from the token (default) or refuse the request (invalid_scope)').choices(['drop', 'refuse']))
    .addOption(new Option('--token-claim <claim>', 'add the subject\'s roles or groups to JWT access tokens (RFC 9068 §7.2.1.1; repeatable)').choices(['roles', 'groups']).argParser(collect));

async function list(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const resources = await services.resources.list();
    if (options.json) return printJson(resources.map(resourceJson));
    printTable(
      resources,
      [
        { header: 'AUDIENCE', value: (r) => r.audience },
        { header: 'NAME', value: (r) => r.name },
        { header: 'SCOPES', value: (r) => r.scopes.join(' ') },
        { header: 'TTL', value: (r) => formatSeconds(r.accessTokenTtl) },
        { header: 'FORMAT', value: (r) => r.tokenFormat },
        { header: 'ALG', value: (r) => r.signingAlg },
        { header: 'RBAC', value: (r) => (r.rbac ? 'on' : 'off') },
        { header: 'CREATED', value: (r) => isoDate(r.createdAt) },
      ],
      'no resource servers yet: add one with `gatehouse resources add`',
    );
  });
}

/** RFC 9728 metadata for the API to publish at the location printed on stderr. */
async function metadata(audience: string): Promise<void> {
  await withContext(async ({ config, services }) => {
    const resource = await services.resources.find(audience);
    if (!resource) throw new CliError(`no such resource server: ${audience}`);
    const location = protectedResourceMetadataUrl(resource.audience);
    if (location) note(`publish at ${location}`);
    printJson(protectedResourceMetadata(resource, { issuer: config.issuer, dpopSigningAlgs: dpopSigningAlgValues }));
  });
}

async function remove(audience: string): Promise<void> {
  await withContext(async (context) => {
    await context.services.resources.remove(operator, audience).catch((error: unknown) => {
      if (error instanceof ResourceError) throw new CliError(`${error.message}: ${audience}`);
      throw error;
    });
    out(`removed resource server ${audience}`);
  });
}

export function registerResourceCommands(program: Command): void {
  const resources = program.command('resources').description('manage resource servers (APIs that receive access tokens)');

  const addCommand = resources
    .command('add')
    .description('register a resource server (an RFC 8707 resource indicator)')
    .requiredOption('--audience <uri>', 'the resource indicator clients request, an absolute URI without fragment')
    .requiredOption('--name <name>', 'name shown on the consent page')
    .option('--scope <scope>', 'a scope the API accepts (repeatable)', collect)
    .option('--ttl <duration>', 'access token lifetime: 600, 90s, 15m, 12h … (default: GATEHOUSE_ACCESS_TOKEN_TTL, 10m unless set)', duration)
    .addOption(new Option('--format <format>', 'access token format: jwt (RFC 9068, verifiable offline; the default) or opaque').choices(['jwt', 'opaque']))
    .addOption(new Option('--alg <alg>', 'signing algorithm of JWT access tokens (default ES256)').choices(signingAlgorithms));
  accessControlOptions(addCommand)
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
Example:
  $ gatehouse resources add --audience https://api.example.com --name "Example API" \\
      --scope invoices:read --scope invoices:write --ttl 10m`)
    .action(add);

  const setCommand = resources
    .command('set')
    .description('change a resource server\'s access control: RBAC on or off, unheld scopes, token claims')
    .argument('<audience>', 'its resource indicator');
  accessControlOptions(setCommand)
    .option('--no-token-claims', 'remove every roles/groups claim from its tokens')
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
Example (turning RBAC on for a server registered before roles existed, docs/rbac.md):
  $ gatehouse roles add orders-reader --permission 'https://api.example.com#orders:read'
  $ gatehouse roles assign orders-reader --client <client-id>
  $ gatehouse resources set https://api.example.com --rbac on --unheld-scopes refuse`)
    .action(set);

  resources.command('list').description('list resource servers').option('--json', 'print a JSON array').action(list);

  resources
    .command('metadata')
    .description('print the RFC 9728 protected-resource metadata the API should publish (its location on stderr)')
    .argument('<audience>', 'its resource indicator')
    .action(metadata);

  resources
    .command('remove')
    .description('delete a resource server')
    .argument('<audience>', 'its resource indicator')
    .action(remove);
}
