import { ZodError } from 'zod';

import { ConfigError } from '../config/index.js';
import { messageOf } from '../core.js';

/** A failure the operator caused and can fix; its message is the whole story. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(message: string, readonly exitCode = 1, options?: { cause: unknown }) {
    super(message, options);
  }
}

/** Service field names as the operator typed them on the command line. */
const optionNames: Record<string, string> = {
  username: '<username>',
  password: 'password',
  email: '--email',
  emailVerified: '--email-verified',
  name: '--name',
  givenName: '--given-name',
  familyName: '--family-name',
  type: '--type',
  redirectUris: '--redirect-uri',
  postLogoutRedirectUris: '--post-logout-redirect-uri',
  backchannelLogoutUri: '--backchannel-logout-uri',
  backchannelLogoutSessionRequired: '--backchannel-logout-session-required',
  firstParty: '--first-party',
  scope: '--scope',
  scopes: '--scope',
  authMethod: '--auth-method',
  idTokenSigningAlg: '--id-token-alg',
  audience: '--audience',
  accessTokenTtl: '--ttl (in seconds)',
  tokenFormat: '--format',
  signingAlg: '--alg',
  tlsSubjectDn: '--tls-subject-dn',
  tlsSan: '--tls-san-*',
  certificatePem: '--certificate',
  boundTokens: '--bound-tokens',
  deviceFlow: '--device',
};

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/**
 * One line per problem: the option, the offending list item when there are
 * several, and the rule's own message. Passwords are never echoed because
 * only list items (URIs, scopes) are quoted back.
 */
function describeIssues(error: ZodError, input: unknown): string {
  const lines = error.issues.map((issue) => {
    const [field, index] = issue.path;
    if (field === undefined) return issue.message;
    const label = optionNames[String(field)] ?? String(field);
    const item = typeof index === 'number' ? valueAt(input, [field, index]) : undefined;
    if (typeof item === 'string') return `${label} ${JSON.stringify(item)}: ${issue.message}`;
    const bare = label.replace(/^--|^<|>$/g, '').replace(/-/g, ' ').toLowerCase();
    if (issue.message.toLowerCase().startsWith(bare)) return issue.message;
    return `${label}: ${issue.message}`;
  });
  return lines.length === 1 ? lines[0]! : `invalid input:\n  ${lines.join('\n  ')}`;
}

/** Runs a service call with the CLI's input so a validation failure can name what the operator typed. */
export async function withInput<I, T>(input: I, call: (input: I) => Promise<T>): Promise<T> {
  try {
    return await call(input);
  } catch (error) {
    if (error instanceof ZodError) throw new CliError(describeIssues(error, input));
    throw error;
  }
}

export function isDebug(env: NodeJS.ProcessEnv): boolean {
  return env.GATEHOUSE_LOG_LEVEL === 'debug' || env.GATEHOUSE_LOG_LEVEL === 'trace';
}

/**
 * The message and exit code for anything an action threw. Service errors
 * (AccountError, ClientError, MigrationError …) carry operator-ready messages;
 * configuration problems exit 2 so scripts can tell them apart.
 */
export function describeError(error: unknown): { message: string; exitCode: number } {
  if (error instanceof ConfigError) return { message: error.message, exitCode: 2 };
  if (error instanceof CliError) return { message: error.message, exitCode: error.exitCode };
  if (error instanceof ZodError) return { message: describeIssues(error, undefined), exitCode: 1 };
  return { message: messageOf(error), exitCode: 1 };
}
