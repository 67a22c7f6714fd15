import { readFile } from 'node:fs/promises';

import { Option, type Command } from 'commander';

import { operator } from '../audit/events.js';
import { ClientError, type ClientSummary } from '../clients/clients.js';
import { clientAuthMethods, clientTypes, type NewClient } from '../clients/schemas.js';
import type { InitialAccessToken } from '../registration/initial-access-tokens.js';
import { signingAlgorithms } from '../keys/keystore.js';
import { accessChange, registerClientAccessCommands, undoCreate } from './client-access.js';
import { clientJson, collect } from './client-json.js';
import { registerClientSecretCommands } from './client-secrets.js';
import { withContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { isoDate, note, out, printFields, printJson, printTable } from './output.js';

const status = (disabled: boolean) => (disabled ? 'disabled' : 'enabled');

/** Who brought the client in: an operator, or dynamic registration with (or without) an initial access token. */
const origin = (client: ClientSummary) => (client.source === 'cli' ? 'operator' : client.registeredBy ? `iat ${client.registeredBy}` : 'open registration');

function registrationFields(client: ClientSummary, token: InitialAccessToken | undefined): Array<[string, string | null]> {
  if (client.source !== 'registration') return [];
  const by = token ? `initial access token ${token.id}${token.description ? ` (${token.description})` : ''}` : 'open registration (no initial access token)';
  return [
    ['registered by', by],
    ['registered at', isoDate(client.createdAt)],
    ['policy', client.registrationPolicy ?? '(baseline)'],
    ['secret expires', client.secretExpiresAt ? isoDate(client.secretExpiresAt) : 'never'],
    ['updated', isoDate(client.updatedAt)],
  ];
}

interface AddOptions {
  type: NewClient['type'];
  name: string;
  redirectUri?: string[];
  postLogoutRedirectUri?: string[];
  firstParty?: boolean;
  scope?: string;
  authMethod?: NewClient['authMethod'];
  idTokenAlg?: NewClient['idTokenSigningAlg'];
  tlsSubjectDn?: string;
  tlsSanDns?: string;
  tlsSanUri?: string;
  tlsSanIp?: string;
  tlsSanEmail?: string;
  certificate?: string;
  boundTokens?: boolean;
  introspect?: string[];
  defaultResource?: string;
  jwks?: string;
  dpop?: boolean;
  device?: boolean;
  backchannelLogoutUri?: string;
  backchannelLogoutSessionRequired?: boolean;
  profile?: 'fapi2';
  json?: boolean;
}

/** The one SAN option given, as the service expects it; two at once is the operator's mistake to fix. */
function tlsSan(options: AddOptions): NewClient['tlsSan'] {
  const given = (['dns', 'uri', 'ip', 'email'] as const)
    .map((type) => ({ type, value: options[`tlsSan${type[0]!.toUpperCase()}${type.slice(1)}` as 'tlsSanDns'] }))
    .filter((san): san is { type: 'dns' | 'uri' | 'ip' | 'email'; value: string } => san.value !== undefined);
  if (given.length > 1) throw new CliError('give one --tls-san-* option: RFC 8705 registers a single subject value per client');
  return given[0];
}

async function readJwks(file: string): Promise<NewClient['jwks']> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new CliError(`--jwks: cannot read ${file}`);
  });
  try {
    return JSON.parse(text) as NewClient['jwks'];
  } catch {
    throw new CliError(`--jwks: ${file} is not JSON (expected a JWK Set: {"keys": [...]})`);
  }
}

async function add(options: AddOptions): Promise<void> {
  const input: NewClient = {
    type: options.type,
    name: options.name,
    redirectUris: options.redirectUri ?? [],
    postLogoutRedirectUris: options.postLogoutRedirectUri ?? [],
    firstParty: options.firstParty ?? false,
    scope: options.scope,
    authMethod: options.authMethod,
    idTokenSigningAlg: options.idTokenAlg,
    tlsSubjectDn: options.tlsSubjectDn,
    tlsSan: tlsSan(options),
    certificatePem: options.certificate ? await readFile(options.certificate, 'utf8').catch(() => {
      throw new CliError(`--certificate: cannot read ${options.certificate}`);
    }) : undefined,
    boundTokens: options.boundTokens ?? false,
    jwks: options.jwks ? await readJwks(options.jwks) : undefined,
    dpopBoundTokens: options.dpop ?? false,
    deviceFlow: options.device ?? false,
    backchannelLogoutUri: options.backchannelLogoutUri,
    backchannelLogoutSessionRequired: options.backchannelLogoutSessionRequired ?? false,
    securityProfile: options.profile,
  };
  if (options.type === 'public' && options.authMethod) {
    throw new CliError('--auth-method: a public client has no secret and authenticates with PKCE only');
  }
  await withContext(async (context) => {
    const created = await withInput(input, (value) => context.services.clients.create(operator, value));
    const { clientSecret } = created;
    const access = accessChange({ introspect: options.introspect, defaultResource: options.defaultResource });
    const client = access ? await context.services.clients.setAccess(operator, created.client.clientId, access).catch(undoCreate(context, created.client.clientId)) : created.client;
    if (options.json) {
      printJson({ ...clientJson(client), client_secret: clientSecret ?? null });
    } else {
      printFields([
        ['client_id', client.clientId],
        ['client_secret', clientSecret ?? (client.type === 'public' ? '(none: a public client proves itself with PKCE)' : client.authMethod === 'private_key_jwt' ? '(none: the client signs assertions with its private key)' : '(none: the client authenticates with its TLS certificate)')],
        ['type', client.type],
        ['name', client.name],
        ['scopes', client.scopes.length ? client.scopes : '(any the resource servers offer)'],
        ['redirect_uris', client.redirectUris],
      ]);
    }
    if (clientSecret) {
      note('the client secret is shown only this once; Gatehouse stores it encrypted and cannot display it again');
    }
  });
}

async function list(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const clients = await services.clients.list();
    if (options.json) return printJson(clients.map(clientJson));
    printTable(
      clients,
      [
        { header: 'CLIENT_ID', value: (c) => c.clientId },
        { header: 'NAME', value: (c) => c.name },
        { header: 'TYPE', value: (c) => c.type },
        { header: 'STATUS', value: (c) => status(c.disabled) },
        { header: 'ADDED BY', value: origin },
        { header: 'SCOPES', value: (c) => c.scopes.join(' ') || '(any)' },
        { header: 'REDIRECT URIS', value: (c) => c.redirectUris.join(' ') },
        { header: 'CREATED', value: (c) => isoDate(c.createdAt) },
      ],
      'no clients yet: add one with `gatehouse clients add`',
    );
  });
}

async function show(clientId: string, options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const client = await services.clients.find(clientId);
    if (!client) throw new CliError(`no such client: ${clientId}`);
    if (options.json) return printJson(clientJson(client));
    const token = client.registeredBy ? await services.initialAccessTokens.find(client.registeredBy) : undefined;
    printFields([
      ['client_id', client.clientId],
      ['name', client.name],
      ['type', client.type],
      ['status', status(client.disabled)],
      ['grant types', client.grantTypes],
      ['redirect uris', client.redirectUris],
      ['auth method', client.authMethod],
      ['scopes', client.scopes.length ? client.scopes : '(any the resource servers offer)'],
      ['first party', client.firstParty],
      ['introspects', client.introspects.length ? client.introspects : '(its own tokens only)'],
      ['default resource', client.defaultResource ?? '(none)'],
      ['source', client.source],
      ...registrationFields(client, token),
      ['created', isoDate(client.createdAt)],
    ]);
  });
}

/** The service says "no such client"; the operator may have several ids in flight, so name it. */
function naming(clientId: string) {
  return (error: unknown): never => {
    if (error instanceof ClientError) throw new CliError(`${error.message}: ${clientId}`);
    throw error;
  };
}

async function remove(clientId: string): Promise<void> {
  await withContext(async (context) => {
    await context.services.clients.remove(operator, clientId).catch(naming(clientId));
    out(`removed client ${clientId}`);
  });
}

async function setDisabled(clientId: string, disabled: boolean): Promise<void> {
  await withContext(async (context) => {
    await context.services.clients.setDisabled(operator, clientId, disabled).catch(naming(clientId));
    out(`${status(disabled)} client ${clientId}`);
  });
}

export function registerClientCommands(program: Command): void {
  const clients = program.command('clients').description('manage OAuth clients (relying parties and services)');

  clients
    .command('add')
    .description('register a client and print its id and (once) its secret')
    .addOption(new Option('--type <type>', 'confidential (server-side app), public (SPA or native app, PKCE) or service (client credentials)').choices(clientTypes).makeOptionMandatory())
    .requiredOption('--name <name>', 'name shown on the consent page')
    .option('--redirect-uri <uri>', 'allowed redirect URI (repeatable): https, loopback http or a private-use scheme', collect)
    .option('--post-logout-redirect-uri <uri>', 'allowed post-logout redirect URI (repeatable)', collect)
    .option('--first-party', 'an application of this installation: consent is not asked for')
    .option('--scope <scopes>', 'space-separated scopes the client may request, e.g. "openid profile api:read"')
    .addOption(new Option('--auth-method <method>', 'how a confidential or service client authenticates (default client_secret_basic)').choices([...clientAuthMethods]))
    .option('--tls-subject-dn <dn>', 'tls_client_auth: the certificate subject DN, e.g. "CN=worker,O=Example"')
    .option('--tls-san-dns <name>', 'tls_client_auth: a DNS subject alternative name instead of the DN')
    .option('--tls-san-uri <uri>', 'tls_client_auth: a URI subject alternative name')
    .option('--tls-san-ip <address>', 'tls_client_auth: an IP address subject alternative name')
    .option('--tls-san-email <address>', 'tls_client_auth: an email subject alternative name')
    .option('--certificate <file>', 'self_signed_tls_client_auth: the client\'s PEM certificate')
    .option('--bound-tokens', 'bind access tokens to the client certificate (cnf.x5t#S256, RFC 8705)')
    .option('--jwks <file>', 'private_key_jwt: a JSON file with the client\'s public keys (a JWK Set)')
    .option('--backchannel-logout-uri <uri>', 'OpenID Connect Back-Channel Logout: where logout tokens are POSTed when the user\'s sessions end')
    .option('--backchannel-logout-session-required', 'logout tokens must carry the session id (sid)')
    .option('--dpop', 'require DPoP (RFC 9449): access tokens carry cnf.jkt and requests without a proof are refused')
    .option('--device', 'allow the device authorization grant (RFC 8628) for a TV or CLI; a public client without --redirect-uri may use only that')
    .addOption(new Option('--profile <profile>', 'fapi2: the client follows the FAPI 2.0 Security Profile (PAR, sender-constrained tokens, private_key_jwt or mTLS)').choices(['fapi2']))
    .addOption(new Option('--id-token-alg <alg>', 'ID token signing algorithm (default ES256)').choices(signingAlgorithms))
    .option('--introspect <audience>', 'let the client introspect tokens for this resource server (repeatable), or `*` for every token (an API gateway)', collect)
    .option('--default-resource <audience>', 'the resource server its token requests are for when they name no `resource` (RFC 8707)')
    .option('--json', 'print a JSON object (including client_secret)')
    .addHelpText('after', `
The client secret is printed once and stored encrypted; it cannot be shown again.

Examples:
  $ gatehouse clients add --type confidential --name "My app" --redirect-uri https://app.example.com/callback
  $ gatehouse clients add --type public --name "CLI tool" --redirect-uri http://127.0.0.1:8400/callback
  $ gatehouse clients add --type service --name "Billing worker" --scope "invoices:read" --json
  $ gatehouse clients add --type service --name "Billing worker" --default-resource https://api.example.com
  $ gatehouse clients add --type service --name "Orders API" --introspect https://api.example.com
  $ gatehouse clients add --type service --name "Partner" --auth-method tls_client_auth --tls-subject-dn "CN=partner,O=Example" --bound-tokens
  $ gatehouse clients add --type service --name "Device" --auth-method self_signed_tls_client_auth --certificate device.pem --bound-tokens`)
    .action(add);

  registerClientAccessCommands(clients);

  clients.command('list').description('list clients').option('--json', 'print a JSON array').action(list);

  clients
    .command('show')
    .description('show one client')
    .argument('<client_id>', 'the client id')
    .option('--json', 'print a JSON object')
    .action(show);

  clients
    .command('remove')
    .description('delete a client for good')
    .argument('<client_id>', 'the client id')
    .action(remove);

  clients
    .command('disable')
    .description('disable a client (it can no longer authenticate or obtain tokens)')
    .argument('<client_id>', 'the client id')
    .action((clientId: string) => setDisabled(clientId, true));

  clients
    .command('enable')
    .description('enable a disabled client')
    .argument('<client_id>', 'the client id')
    .action((clientId: string) => setDisabled(clientId, false));

  registerClientSecretCommands(clients);
}
