import type { Command } from 'commander';
import { ZodError } from 'zod';

import { operator } from '../audit/events.js';
import { parseDuration } from '../config/duration.js';
import type { RegistrationPolicy } from '../registration/policies.js';
import { registrableAuthMethods, registrableGrantTypes, type PolicyInput } from '../registration/policy.js';
import { withContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, out, printFields, printJson, printTable } from './output.js';

export function policyJson(policy: RegistrationPolicy) {
  const r = policy.rules;
  return {
    name: policy.name,
    description: policy.description,
    grant_types: r.grantTypes,
    auth_methods: r.authMethods,
    default_auth_method: r.defaultAuthMethod,
    redirect_hosts: r.redirectHosts ?? null,
    native_redirects: r.nativeRedirects,
    scopes: r.scopes,
    resources: r.resources,
    max_clients_per_token: r.maxClientsPerToken ?? null,
    secret_lifetime_seconds: r.secretLifetimeSeconds ?? null,
    require_software_statement: r.requireSoftwareStatement,
    expire_unused_after_seconds: r.expireUnusedAfterSeconds ?? null,
    max_clients_per_software: r.maxClientsPerSoftware ?? null,
    updated_at: isoDate(policy.updatedAt),
  };
}

/** Comma- or space-separated, as operators write lists on a command line. */
const list = (value: string) => value.split(/[\s,]+/).filter(Boolean);

interface SetOptions {
  grantTypes?: string;
  authMethods?: string;
  defaultAuthMethod?: string;
  redirectHosts?: string;
  nativeRedirects: boolean;
  scopes?: string;
  resources?: string;
  maxClientsPerToken?: string;
  secretLifetime?: string;
  expireUnused?: string;
  maxClientsPerSoftware?: string;
  requireSoftwareStatement?: boolean;
  description?: string;
  json?: boolean;
}

function rulesFrom(options: SetOptions): PolicyInput {
  const rules: Record<string, unknown> = { nativeRedirects: options.nativeRedirects, requireSoftwareStatement: options.requireSoftwareStatement ?? false };
  if (options.grantTypes !== undefined) rules.grantTypes = list(options.grantTypes);
  if (options.authMethods !== undefined) rules.authMethods = list(options.authMethods);
  if (options.defaultAuthMethod !== undefined) rules.defaultAuthMethod = options.defaultAuthMethod;
  if (options.redirectHosts !== undefined) rules.redirectHosts = list(options.redirectHosts);
  if (options.scopes !== undefined) rules.scopes = list(options.scopes);
  if (options.resources !== undefined) rules.resources = list(options.resources);
  if (options.maxClientsPerToken !== undefined) {
    if (!/^\d+$/.test(options.maxClientsPerToken)) throw new CliError('--max-clients-per-token: expected a whole number');
    rules.maxClientsPerToken = Number(options.maxClientsPerToken);
  }
  if (options.secretLifetime !== undefined) {
    const seconds = parseDuration(options.secretLifetime);
    if (seconds === undefined) throw new CliError('--secret-lifetime: expected a duration such as 90d');
    rules.secretLifetimeSeconds = seconds;
  }
  if (options.expireUnused !== undefined) {
    const seconds = parseDuration(options.expireUnused);
    if (seconds === undefined) throw new CliError('--expire-unused: expected a duration such as 30d');
    rules.expireUnusedAfterSeconds = seconds;
  }
  if (options.maxClientsPerSoftware !== undefined) {
    if (!/^\d+$/.test(options.maxClientsPerSoftware)) throw new CliError('--max-clients-per-software: expected a whole number');
    rules.maxClientsPerSoftware = Number(options.maxClientsPerSoftware);
  }
  return rules as PolicyInput;
}

/** Rule names as the operator typed them. */
const optionFor: Record<string, string> = {
  grantTypes: '--grant-types',
  authMethods: '--auth-methods',
  defaultAuthMethod: '--default-auth-method',
  redirectHosts: '--redirect-hosts',
  scopes: '--scopes',
  resources: '--resources',
  maxClientsPerToken: '--max-clients-per-token',
  secretLifetimeSeconds: '--secret-lifetime',
  expireUnusedAfterSeconds: '--expire-unused',
  maxClientsPerSoftware: '--max-clients-per-software',
};

function describeRuleIssues(error: ZodError, rules: PolicyInput): CliError {
  const lines = error.issues.map((issue) => {
    const [field, index] = issue.path;
    const option = optionFor[String(field)] ?? String(field ?? 'policy');
    const item = typeof index === 'number' ? (rules as Record<string, unknown[]>)[String(field)]?.[index] : undefined;
    return `${option}${typeof item === 'string' ? ` ${JSON.stringify(item)}` : ''}: ${issue.message}`;
  });
  return new CliError(lines.length === 1 ? lines[0]! : `invalid policy:\n  ${lines.join('\n  ')}`);
}

function printPolicy(policy: RegistrationPolicy): void {
  const r = policy.rules;
  printFields([
    ['name', policy.name],
    ['description', policy.description],
    ['grant types', r.grantTypes],
    ['auth methods', r.authMethods],
    ['default auth method', r.defaultAuthMethod],
    ['redirect hosts', r.redirectHosts ?? ['(any https host)']],
    ['native redirects', r.nativeRedirects ? 'allowed (loopback http, reverse-domain schemes)' : 'refused'],
    ['scopes', r.scopes.join(' ')],
    ['resources', r.resources],
    ['clients per token', r.maxClientsPerToken ?? '(no cap)'],
    ['secret lifetime', r.secretLifetimeSeconds ? `${r.secretLifetimeSeconds}s` : '(does not expire)'],
    ['software statement', r.requireSoftwareStatement ? 'required' : 'optional'],
    ['unused clients', r.expireUnusedAfterSeconds ? `removed after ${r.expireUnusedAfterSeconds}s without a token` : '(kept)'],
    ['clients per software_id', r.maxClientsPerSoftware ?? '(no cap)'],
    ['updated', isoDate(policy.updatedAt)],
  ]);
}

async function set(name: string, options: SetOptions): Promise<void> {
  const rules = rulesFrom(options);
  await withContext(async (context) => {
    const policy = await context.services.registrationPolicies.set(operator, name, rules, options.description).catch((error: unknown) => {
      throw error instanceof ZodError ? describeRuleIssues(error, rules) : error;
    });
    if (options.json) printJson(policyJson(policy));
    else printPolicy(policy);
  });
}

async function show(name: string, options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const policy = await services.registrationPolicies.find(name);
    if (!policy) throw new CliError(`no such policy: ${name}`);
    if (options.json) printJson(policyJson(policy));
    else printPolicy(policy);
  });
}

async function listPolicies(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const policies = await services.registrationPolicies.list();
    if (options.json) return printJson(policies.map(policyJson));
    printTable(
      policies,
      [
        { header: 'NAME', value: (p) => p.name },
        { header: 'GRANT TYPES', value: (p) => p.rules.grantTypes.join(' ') },
        { header: 'REDIRECT HOSTS', value: (p) => p.rules.redirectHosts?.join(' ') ?? '(any)' },
        { header: 'RESOURCES', value: (p) => p.rules.resources.join(' ') },
        { header: 'DESCRIPTION', value: (p) => p.description },
      ],
      'no registration policies yet: tokens minted without --policy use the baseline',
    );
  });
}

async function remove(name: string): Promise<void> {
  await withContext(async (context) => {
    await context.services.registrationPolicies.remove(operator, name);
    out(`removed policy ${name}`);
  });
}

export function registerPolicyCommands(program: Command): void {
  const policies = program.command('policies').description('registration policies: what dynamically registered clients may be');

  policies
    .command('set')
    .description('create or replace a policy (options left out take their defaults)')
    .argument('<name>', 'policy name: lower-case letters, digits, - and _')
    .option('--grant-types <list>', `allowed grant types (${registrableGrantTypes.join(', ')}; default authorization_code,refresh_token)`)
    .option('--auth-methods <list>', `allowed token endpoint auth methods (${registrableAuthMethods.join(', ')})`)
    .option('--default-auth-method <method>', 'auth method of clients that name none (default client_secret_basic)')
    .option('--redirect-hosts <list>', 'hosts https redirect URIs may use; *.example.com allows its subdomains (default: any)')
    .option('--no-native-redirects', 'refuse loopback http and private-use scheme redirects (native apps)')
    .option('--scopes <list>', 'OpenID scopes clients may register (default openid,profile,email,offline_access)')
    .option('--resources <list>', 'resource indicators (APIs) clients may get tokens for (default: none)')
    .option('--max-clients-per-token <n>', 'live clients one initial access token may have registered')
    .option('--secret-lifetime <duration>', 'client secrets expire after this (renewed by a management update), e.g. 90d')
    .option('--expire-unused <duration>', 'remove registered clients that obtain no token for this long (never used: since registration), e.g. 30d')
    .option('--max-clients-per-software <n>', 'live clients one software_id may have registered under the policy (software_id becomes required)')
    .option('--require-software-statement', 'clients must present a software statement from a trusted issuer')
    .option('--description <text>', 'what the policy is for')
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
A policy applies when a client registers with a token minted under it and at
every later update; changing a policy applies to the next request.

Examples:
  $ gatehouse policies set partners --redirect-hosts "*.partner.example" --grant-types authorization_code,refresh_token,client_credentials --resources https://api.example.com --secret-lifetime 90d
  $ gatehouse policies set spa --auth-methods none --default-auth-method none --no-native-redirects
  $ gatehouse policies set agents --auth-methods none --default-auth-method none --scopes openid,offline_access --resources https://tools.example.com/mcp --expire-unused 30d --max-clients-per-software 50`)
    .action(set);

  policies.command('list').description('list policies').option('--json', 'print a JSON array').action(listPolicies);
  policies.command('show').description('show one policy').argument('<name>', 'the policy name').option('--json', 'print a JSON object').action(show);
  policies.command('remove').description('delete a policy no token or client uses').argument('<name>', 'the policy name').action(remove);
}
