/**
 * `gatehouse upstreams`: the upstream identity providers users sign in
 * through (issue 20, docs/federation.md), and the upstream identities linked
 * to a user. The client secret comes on stdin (`--client-secret-stdin`),
 * never as an argument, and is never printed; with private_key_jwt the
 * public key to register at the upstream is printed instead.
 */
import { Option, type Command } from 'commander';

import { operator } from '../audit/events.js';
import { LinkError, type FederationLink } from '../federation/links.js';
import { linkingPolicies, secondFactorPolicies, upstreamClientAuthMethods, type NewUpstream, type UpstreamChanges } from '../federation/schemas.js';
import { UpstreamConflictError, UpstreamInputError, UpstreamNotFoundError, type Upstream } from '../federation/upstreams.js';
import { upstreamJson } from '../admin/routes/upstreams.js';
import { withContext, type CliContext } from './context.js';
import { CliError, withInput } from './errors.js';
import { io } from './io.js';
import { readFirstLine } from './password.js';
import { isoDate, note, out, printFields, printJson, printTable } from './output.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface SharedOptions {
  displayName?: string;
  clientId?: string;
  clientSecretStdin?: boolean;
  clientAuth?: NewUpstream['clientAuth'];
  scope?: string[];
  claimSubject?: string;
  claimEmail?: string;
  claimEmailVerified?: string;
  claimName?: string;
  claimGroups?: string;
  linking?: NewUpstream['linking'];
  secondFactor?: NewUpstream['secondFactor'];
  domain?: string[];
  endUpstreamSession?: boolean;
  json?: boolean;
}

interface AddOptions extends SharedOptions {
  preset: 'google' | 'entra' | 'microsoft' | 'github' | 'oidc';
  issuer?: string;
  tenant?: string;
  disabled?: boolean;
}

const defined = <T extends Record<string, unknown>>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

async function secretFrom(options: SharedOptions): Promise<string | undefined> {
  if (!options.clientSecretStdin) return undefined;
  const line = await readFirstLine(io().stdin);
  if (!line) throw new CliError('--client-secret-stdin: no secret on stdin');
  return line;
}

function claimsOf(options: SharedOptions) {
  const claims = defined({ subject: options.claimSubject, email: options.claimEmail, emailVerified: options.claimEmailVerified, name: options.claimName, groups: options.claimGroups });
  return Object.keys(claims).length > 0 ? claims : undefined;
}

async function serviceCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof UpstreamNotFoundError || error instanceof UpstreamConflictError || error instanceof UpstreamInputError || error instanceof LinkError) throw new CliError(error.message);
    throw error;
  }
}

function printUpstream(context: CliContext, upstream: Upstream, json: boolean | undefined): void {
  const representation = upstreamJson(upstream, context.config.issuer);
  if (json) return printJson({ ...representation, public_jwk: upstream.publicJwk ?? null });
  printFields([
    ['id', upstream.id],
    ['name', upstream.name],
    ['display name', upstream.displayName],
    ['protocol', upstream.protocol],
    ['issuer', upstream.issuer],
    ['client id', upstream.clientId],
    ['client secret', upstream.hasClientSecret ? 'set (sealed)' : 'none'],
    ['client auth', upstream.clientAuth],
    ['scopes', upstream.scopes],
    ['claims', Object.entries(upstream.claims).map(([k, v]) => `${k} <- ${String(v)}`)],
    ['linking', upstream.linking],
    ['second factor', upstream.secondFactor],
    ['domains', upstream.domains],
    ['end upstream session', upstream.endUpstreamSession ? 'yes' : 'no'],
    ['enabled', upstream.enabled ? 'yes' : 'no'],
    ['redirect uri', `${context.config.issuer.replace(/\/$/, '')}/federation/callback`],
    ['back-channel logout uri', `${context.config.issuer.replace(/\/$/, '')}/federation/backchannel-logout`],
    ...(representation.jwks_uri ? ([['jwks uri', representation.jwks_uri]] as const) : []),
    ...(upstream.publicJwk ? ([['public key (kid)', upstream.publicJwk.kid ?? null]] as const) : []),
  ]);
  if (upstream.publicJwk && !json) {
    note('private_key_jwt: register the jwks uri above at the upstream, or this public key:');
    io().stderr.write(`${JSON.stringify(upstream.publicJwk)}\n`);
  }
}

/** The fields `add` and `update` take from the same options (sharedOptions below). */
function sharedFields(options: SharedOptions, clientSecret: string | undefined) {
  return {
    displayName: options.displayName,
    clientId: options.clientId,
    clientSecret,
    clientAuth: options.clientAuth,
    scopes: options.scope,
    claims: claimsOf(options),
    linking: options.linking,
    secondFactor: options.secondFactor,
    domains: options.domain,
    endUpstreamSession: options.endUpstreamSession,
  };
}

async function add(name: string, options: AddOptions): Promise<void> {
  await withContext(async (context) => {
    const clientSecret = await secretFrom(options);
    if (!options.clientId) throw new CliError('--client-id is required');
    const preset = options.preset === 'oidc' ? undefined : options.preset === 'entra' ? 'microsoft' : options.preset;
    if (options.preset === 'oidc' && !options.issuer) throw new CliError('--preset oidc needs --issuer (the upstream\'s issuer or discovery URL)');
    const input = defined({ name, preset, tenant: options.tenant, issuer: options.issuer, ...sharedFields(options, clientSecret), enabled: options.disabled ? false : undefined }) as NewUpstream;
    const upstream = await serviceCall(() => withInput(input, (value) => context.services.upstreams.create(operator, value)));
    printUpstream(context, upstream, options.json);
  });
}

async function update(name: string, options: SharedOptions & { enabled?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const clientSecret = await secretFrom(options);
    const changes = defined({ ...sharedFields(options, clientSecret), enabled: options.enabled }) as UpstreamChanges;
    if (Object.keys(changes).length === 0) throw new CliError('nothing to change: name at least one option (see --help)');
    const upstream = await serviceCall(() => withInput(changes, (value) => context.services.upstreams.update(operator, name, value)));
    printUpstream(context, upstream, options.json);
  });
}

async function findUser(context: CliContext, login: string) {
  const account = (await context.services.accounts.findById(login)) ?? (await context.services.accounts.find(login));
  if (!account) throw new CliError(`no such user: ${login}`);
  return account;
}

const linkJson = (l: FederationLink) => ({ issuer: l.issuer, subject: l.subject, upstream: l.upstream, groups: l.groups, created_at: isoDate(l.createdAt), last_used_at: isoDate(l.lastUsedAt) });

function sharedOptions(command: Command): Command {
  return command
    .option('--display-name <text>', 'the button\'s label on the login page')
    .option('--client-id <id>', 'the client id Gatehouse was registered with at the upstream')
    .option('--client-secret-stdin', 'read the client secret from the first line of stdin (sealed under the master secret, never printed)')
    .addOption(new Option('--client-auth <method>', 'how Gatehouse authenticates at the upstream\'s token endpoint (private_key_jwt: a key pair is made and its public key printed)').choices(upstreamClientAuthMethods))
    .option('--scope <scope>', 'a scope to request (repeatable; replaces the preset\'s)', collect)
    .option('--claim-subject <claim>', 'claim holding the stable subject (default sub)')
    .option('--claim-email <claim>', 'claim holding the email (default email)')
    .option('--claim-email-verified <claim>', 'claim saying the email is verified (default email_verified)')
    .option('--claim-name <claim>', 'claim holding the display name (default name)')
    .option('--claim-groups <claim>', 'claim holding group names, kept on the link')
    .addOption(new Option('--linking <policy>', 'how an upstream user meets a local account (docs/federation.md)').choices(linkingPolicies))
    .addOption(new Option('--second-factor <policy>', 'trust the upstream\'s amr as a second factor, or always ask for Gatehouse\'s').choices(secondFactorPolicies))
    .option('--domain <domain>', 'home-realm discovery: emails in this domain go straight to this upstream (repeatable; replaces the list)', collect)
    .option('--end-upstream-session', 'RP-initiated logout at Gatehouse also ends the upstream session')
    .option('--json', 'print a JSON object');
}

export function registerUpstreamCommands(program: Command): void {
  const upstreams = program.command('upstreams').description('manage upstream identity providers users sign in through (Google, Entra ID, GitHub, any OpenID provider)');

  upstreams
    .command('list')
    .description('list upstream identity providers')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      await withContext(async (context) => {
        const all = await context.services.upstreams.list();
        if (options.json) return printJson(all.map((u) => upstreamJson(u, context.config.issuer)));
        printTable(
          all,
          [
            { header: 'NAME', value: (u) => u.name },
            { header: 'ISSUER', value: (u) => u.issuer },
            { header: 'AUTH', value: (u) => u.clientAuth },
            { header: 'LINKING', value: (u) => u.linking },
            { header: 'DOMAINS', value: (u) => u.domains.join(' ') },
            { header: 'ENABLED', value: (u) => (u.enabled ? 'yes' : 'no') },
          ],
          'no upstreams yet: add one with `gatehouse upstreams add`',
        );
      });
    });

  upstreams
    .command('show')
    .description('show one upstream (never its secret)')
    .argument('<name>', 'its name or id')
    .option('--json', 'print a JSON object')
    .action(async (name: string, options: { json?: boolean }) => {
      await withContext(async (context) => {
        const upstream = await context.services.upstreams.find(name);
        if (!upstream) throw new CliError(`no such upstream: ${name}`);
        printUpstream(context, upstream, options.json);
      });
    });

  sharedOptions(
    upstreams
      .command('add')
      .description('add an upstream from a preset (google, entra, github) or any OpenID provider (oidc --issuer)')
      .argument('<name>', 'a short name: lower-case letters, digits and dashes (in the login button\'s URL)')
      .addOption(new Option('--preset <preset>', 'google, entra (Microsoft Entra ID), github (OAuth 2.0), or oidc (any provider by --issuer)').choices(['google', 'entra', 'microsoft', 'github', 'oidc']).makeOptionMandatory())
      .option('--issuer <url>', 'oidc: the issuer or its discovery URL (https)')
      .option('--tenant <id>', 'entra: the directory (tenant) id or name.onmicrosoft.com')
      .option('--disabled', 'add it turned off'),
  )
    .addHelpText('after', `
The redirect URI to register at the upstream is <issuer>/federation/callback.

Examples:
  $ printf '%s\\n' "$GOOGLE_SECRET" | gatehouse upstreams add google --preset google \\
      --client-id 123.apps.googleusercontent.com --client-secret-stdin --linking jit-create
  $ gatehouse upstreams add corp --preset entra --tenant 0b1c…-… --client-id … \\
      --client-auth private_key_jwt --domain corp.example --linking link-after-sign-in
  $ gatehouse upstreams add idp --preset oidc --issuer https://idp.example --client-id gh …`)
    .action(add);

  sharedOptions(upstreams.command('update').description('change an upstream (its name and issuer stay: links are keyed by the issuer)').argument('<name>', 'its name or id'))
    .option('--no-end-upstream-session', 'RP-initiated logout no longer ends the upstream session')
    .action(update);

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    upstreams
      .command(verb)
      .description(enabled ? 'offer the upstream on the login page again' : 'stop offering and accepting sign-ins through the upstream (links are kept)')
      .argument('<name>', 'its name or id')
      .option('--json', 'print a JSON object')
      .action(async (name: string, options: { json?: boolean }) => {
        await withContext(async (context) => {
          const upstream = await serviceCall(() => context.services.upstreams.update(operator, name, { enabled }));
          if (options.json) return printJson(upstreamJson(upstream, context.config.issuer));
          out(`${enabled ? 'enabled' : 'disabled'} upstream ${upstream.name}`);
        });
      });
  }

  upstreams
    .command('delete')
    .description('remove an upstream (links stay, keyed by issuer, and work again if it is added back)')
    .argument('<name>', 'its name or id')
    .option('--json', 'print a JSON object')
    .action(async (name: string, options: { json?: boolean }) => {
      await withContext(async (context) => {
        await serviceCall(() => context.services.upstreams.remove(operator, name));
        if (options.json) return printJson({ deleted: name });
        out(`deleted upstream ${name}`);
      });
    });

  const links = upstreams.command('links').description('upstream identities linked to a user');
  links
    .command('list')
    .description('list the upstream identities linked to a user')
    .argument('<user>', 'username, email or id')
    .option('--json', 'print a JSON array')
    .action(async (login: string, options: { json?: boolean }) => {
      await withContext(async (context) => {
        const account = await findUser(context, login);
        const all = await context.services.federationLinks.forAccount(account.id);
        if (options.json) return printJson(all.map(linkJson));
        printTable(
          all,
          [
            { header: 'UPSTREAM', value: (l) => l.upstream },
            { header: 'ISSUER', value: (l) => l.issuer },
            { header: 'SUBJECT', value: (l) => l.subject },
            { header: 'LAST USED', value: (l) => isoDate(l.lastUsedAt) },
          ],
          `${account.username} has no linked upstream identities`,
        );
      });
    });
  links
    .command('remove')
    .description('unlink an upstream identity from a user')
    .argument('<user>', 'username, email or id')
    .requiredOption('--issuer <issuer>', 'the upstream\'s issuer, as `links list` shows it')
    .requiredOption('--subject <subject>', 'the upstream subject, as `links list` shows it')
    .option('--json', 'print a JSON object')
    .action(async (login: string, options: { issuer: string; subject: string; json?: boolean }) => {
      await withContext(async (context) => {
        const account = await findUser(context, login);
        await serviceCall(() => context.services.federationLinks.remove(operator, account.id, { issuer: options.issuer, subject: options.subject }));
        if (options.json) return printJson({ removed: { issuer: options.issuer, subject: options.subject } });
        out(`unlinked ${options.subject} at ${options.issuer} from ${account.username}`);
      });
    });
}
