/**
 * Every setting Gatehouse reads, in one place: its variable, type, default and
 * meaning. The README's configuration table is generated from `settings`
 * (`npm run docs:config`), and a test fails when the two disagree.
 */
import path from 'node:path';
import { z } from 'zod';

import { parseDuration } from './duration.js';

const duration = z.string().transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 600, 90s, 15m, 12h or 30d' });
    return z.NEVER;
  }
  return seconds;
});

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

interface Setting {
  env: string;
  default: string | undefined;
  description: string;
  schema: z.ZodType;
}

/** The single list of settings. Order is the README's order. */
export const settings = [
  { env: 'NODE_ENV', default: 'development', description: '`production` turns every unsafe default into a start-up error (http issuer, embedded database, generated master key, weak argon2 cost).', schema: z.enum(['development', 'production', 'test']) },
  { env: 'GATEHOUSE_ISSUER', default: undefined, description: 'Public issuer URL; unset: `http://localhost:<GATEHOUSE_PORT>` (scheme, host, optional path; no query or fragment). Must be https in production unless loopback.', schema: z.url() },
  { env: 'GATEHOUSE_HOST', default: '127.0.0.1', description: 'Address the HTTP listener binds to (`0.0.0.0` in containers).', schema: z.string().min(1) },
  { env: 'GATEHOUSE_PORT', default: '3000', description: 'Port of the HTTP listener (0 picks a free port).', schema: integer(0, 65535) },
  { env: 'GATEHOUSE_TRUST_PROXY', default: 'false', description: 'Trust `X-Forwarded-Proto/Host/For` from a reverse proxy in front of Gatehouse.', schema: boolean },
  { env: 'DATABASE_URL', default: undefined, description: 'PostgreSQL connection URL. Unset: the embedded database in `GATEHOUSE_DATA_DIR` is used (one process only; refused in production).', schema: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL') },
  { env: 'GATEHOUSE_DB_POOL_MAX', default: '10', description: 'Maximum PostgreSQL connections per process (one more is held for LISTEN).', schema: integer(2, 500) },
  { env: 'GATEHOUSE_DATA_DIR', default: './data', description: 'Directory for the embedded database and, in development, the generated master key.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_MASTER_KEY', default: undefined, description: 'Master secret (at least 32 bytes, base64url or hex) from which the keys encrypting client secrets, TOTP seeds and private keys are derived. Required in production (this or the `_FILE` form).', schema: z.string().min(32) },
  { env: 'GATEHOUSE_MASTER_KEY_FILE', default: undefined, description: 'Path of a file holding the master secret (for mounted secrets).', schema: z.string().min(1) },
  { env: 'GATEHOUSE_MASTER_KEY_PREVIOUS', default: undefined, description: 'During a master-secret rotation only: the previous secret, still accepted for decryption until `gatehouse keys rewrap` has re-sealed everything.', schema: z.string().min(32) },
  { env: 'GATEHOUSE_MASTER_KEY_PREVIOUS_FILE', default: undefined, description: 'File form of `GATEHOUSE_MASTER_KEY_PREVIOUS`.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_SIGNING_ALGORITHMS', default: 'ES256,RS256', description: 'Comma-separated JWS algorithms that always have an active signing key (ES256, RS256, PS256, EdDSA). ES256 signs by default; the others serve clients that ask for them.', schema: z.string().transform((v, ctx) => {
    const algs = [...new Set(v.split(',').map((a) => a.trim()).filter(Boolean))];
    const unknown = algs.filter((a) => !['ES256', 'RS256', 'PS256', 'EdDSA'].includes(a));
    if (algs.length === 0 || unknown.length > 0) {
      ctx.addIssue({ code: 'custom', message: `expected a list of ES256, RS256, PS256, EdDSA${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}` });
      return z.NEVER;
    }
    return algs;
  }) },
  { env: 'GATEHOUSE_KEY_ROTATION_INTERVAL', default: '30d', description: 'How long a signing key signs before the scheduled rotation replaces it.', schema: duration },
  { env: 'GATEHOUSE_KEY_PUBLISH_DELAY', default: '24h', description: 'How long a new key is published in the JWKS before it signs: the longest time a relying party may cache the JWKS.', schema: duration },
  { env: 'GATEHOUSE_KEY_CHECK_INTERVAL', default: '10s', description: 'How often each node re-reads the key set, in case a change notification was lost.', schema: duration },
  { env: 'GATEHOUSE_JWKS_MAX_AGE', default: '5m', description: '`Cache-Control: max-age` of the JWKS response.', schema: duration },
  { env: 'GATEHOUSE_LOG_LEVEL', default: 'info', description: 'Log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) },
  { env: 'GATEHOUSE_ACCESS_TOKEN_TTL', default: '10m', description: 'Lifetime of access tokens issued to users when the resource server sets none.', schema: duration },
  { env: 'GATEHOUSE_CLIENT_CREDENTIALS_TTL', default: '10m', description: 'Lifetime of client-credentials access tokens when the resource server sets none.', schema: duration },
  { env: 'GATEHOUSE_ID_TOKEN_TTL', default: '1h', description: 'Lifetime of ID tokens.', schema: duration },
  { env: 'GATEHOUSE_AUTHORIZATION_CODE_TTL', default: '60s', description: 'Lifetime of authorization codes.', schema: duration },
  { env: 'GATEHOUSE_REFRESH_TOKEN_TTL', default: '14d', description: 'Lifetime of refresh tokens (rotated ones keep the remaining lifetime of the first).', schema: duration },
  { env: 'GATEHOUSE_SESSION_TTL', default: '14d', description: 'Lifetime of a browser sign-in session.', schema: duration },
  { env: 'GATEHOUSE_GRANT_TTL', default: '14d', description: 'Lifetime of a grant (the record of what a user allowed a client).', schema: duration },
  { env: 'GATEHOUSE_INTERACTION_TTL', default: '15m', description: 'Time a user has to finish the login and consent pages.', schema: duration },
  { env: 'GATEHOUSE_CLEANUP_INTERVAL', default: '5m', description: 'How often one node deletes expired tokens, sessions and interactions.', schema: duration },
  { env: 'GATEHOUSE_ARGON2_MEMORY_KIB', default: '19456', description: 'argon2id memory cost in KiB (OWASP: 19456 with 2 iterations, or an equivalent pair).', schema: integer(1024, 4_194_304) },
  { env: 'GATEHOUSE_ARGON2_ITERATIONS', default: '2', description: 'argon2id time cost (iterations).', schema: integer(1, 100) },
  { env: 'GATEHOUSE_ARGON2_PARALLELISM', default: '1', description: 'argon2id parallelism (lanes).', schema: integer(1, 16) },
] as const satisfies readonly Setting[];

export interface Ttls {
  accessToken: number;
  clientCredentials: number;
  idToken: number;
  authorizationCode: number;
  refreshToken: number;
  session: number;
  grant: number;
  interaction: number;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  issuer: string;
  host: string;
  port: number;
  trustProxy: boolean;
  databaseUrl: string | undefined;
  dbPoolMax: number;
  dataDir: string;
  masterKey: { value: string } | { file: string } | undefined;
  previousMasterKey: { value: string } | { file: string } | undefined;
  keys: {
    algorithms: Array<'ES256' | 'RS256' | 'PS256' | 'EdDSA'>;
    rotationIntervalSeconds: number;
    publishDelaySeconds: number;
    checkIntervalSeconds: number;
    jwksMaxAgeSeconds: number;
  };
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  ttl: Ttls;
  cleanupIntervalSeconds: number;
  argon2: { memoryKib: number; iterations: number; parallelism: number };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** Parses and checks the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const known = new Set<string>(settings.map((s) => s.env));
  for (const name of Object.keys(env)) {
    if (name.startsWith('GATEHOUSE_') && !known.has(name)) {
      problems.push(`${name}: unknown setting (see the configuration table in README.md)`);
    }
  }

  const values: Record<string, unknown> = {};
  for (const setting of settings as readonly Setting[]) {
    const raw = env[setting.env] === '' ? undefined : env[setting.env];
    const input = raw ?? setting.default;
    if (input === undefined) continue;
    const parsed = setting.schema.safeParse(input);
    if (parsed.success) {
      values[setting.env] = parsed.data;
    } else {
      problems.push(`${setting.env}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);

  const get = <T>(name: (typeof settings)[number]['env']) => values[name] as T;
  const config: Config = {
    env: get('NODE_ENV'),
    issuer: (get<string | undefined>('GATEHOUSE_ISSUER') ?? `http://localhost:${get<number>('GATEHOUSE_PORT')}`).replace(/\/$/, ''),
    host: get('GATEHOUSE_HOST'),
    port: get('GATEHOUSE_PORT'),
    trustProxy: get('GATEHOUSE_TRUST_PROXY'),
    databaseUrl: get('DATABASE_URL'),
    dbPoolMax: get('GATEHOUSE_DB_POOL_MAX'),
    dataDir: path.resolve(get<string>('GATEHOUSE_DATA_DIR')),
    masterKey: masterKeySource(get('GATEHOUSE_MASTER_KEY'), get('GATEHOUSE_MASTER_KEY_FILE')),
    previousMasterKey: masterKeySource(get('GATEHOUSE_MASTER_KEY_PREVIOUS'), get('GATEHOUSE_MASTER_KEY_PREVIOUS_FILE')),
    keys: {
      algorithms: get('GATEHOUSE_SIGNING_ALGORITHMS'),
      rotationIntervalSeconds: get('GATEHOUSE_KEY_ROTATION_INTERVAL'),
      publishDelaySeconds: get('GATEHOUSE_KEY_PUBLISH_DELAY'),
      checkIntervalSeconds: get('GATEHOUSE_KEY_CHECK_INTERVAL'),
      jwksMaxAgeSeconds: get('GATEHOUSE_JWKS_MAX_AGE'),
    },
    logLevel: get('GATEHOUSE_LOG_LEVEL'),
    ttl: {
      accessToken: get('GATEHOUSE_ACCESS_TOKEN_TTL'),
      clientCredentials: get('GATEHOUSE_CLIENT_CREDENTIALS_TTL'),
      idToken: get('GATEHOUSE_ID_TOKEN_TTL'),
      authorizationCode: get('GATEHOUSE_AUTHORIZATION_CODE_TTL'),
      refreshToken: get('GATEHOUSE_REFRESH_TOKEN_TTL'),
      session: get('GATEHOUSE_SESSION_TTL'),
      grant: get('GATEHOUSE_GRANT_TTL'),
      interaction: get('GATEHOUSE_INTERACTION_TTL'),
    },
    cleanupIntervalSeconds: get('GATEHOUSE_CLEANUP_INTERVAL'),
    argon2: {
      memoryKib: get('GATEHOUSE_ARGON2_MEMORY_KIB'),
      iterations: get('GATEHOUSE_ARGON2_ITERATIONS'),
      parallelism: get('GATEHOUSE_ARGON2_PARALLELISM'),
    },
  };
  checkConsistency(config, env, problems);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return config;
}

function masterKeySource(value: string | undefined, file: string | undefined): Config['masterKey'] {
  if (value !== undefined) return { value };
  if (file !== undefined) return { file: path.resolve(file) };
  return undefined;
}

function checkConsistency(config: Config, env: Env, problems: string[]): void {
  const issuer = new URL(config.issuer);
  if (issuer.search || issuer.hash) problems.push('GATEHOUSE_ISSUER: must not carry a query or fragment');
  if (env.GATEHOUSE_MASTER_KEY && env.GATEHOUSE_MASTER_KEY_FILE) {
    problems.push('GATEHOUSE_MASTER_KEY and GATEHOUSE_MASTER_KEY_FILE: set one, not both');
  }
  if (env.GATEHOUSE_MASTER_KEY_PREVIOUS && env.GATEHOUSE_MASTER_KEY_PREVIOUS_FILE) {
    problems.push('GATEHOUSE_MASTER_KEY_PREVIOUS and GATEHOUSE_MASTER_KEY_PREVIOUS_FILE: set one, not both');
  }
  if (config.previousMasterKey && !config.masterKey) {
    problems.push('GATEHOUSE_MASTER_KEY_PREVIOUS: only meaningful with GATEHOUSE_MASTER_KEY (the new secret) set');
  }
  if (config.keys.publishDelaySeconds >= config.keys.rotationIntervalSeconds) {
    problems.push('GATEHOUSE_KEY_PUBLISH_DELAY: must be shorter than GATEHOUSE_KEY_ROTATION_INTERVAL');
  }
  if (config.keys.jwksMaxAgeSeconds > config.keys.publishDelaySeconds) {
    problems.push('GATEHOUSE_JWKS_MAX_AGE: must not exceed GATEHOUSE_KEY_PUBLISH_DELAY, or a cached JWKS could miss a key that already signs');
  }
  if (config.ttl.refreshToken < config.ttl.accessToken) {
    problems.push('GATEHOUSE_REFRESH_TOKEN_TTL: must not be shorter than GATEHOUSE_ACCESS_TOKEN_TTL');
  }
  if (config.env !== 'production') return;

  // Production refuses what is only safe on a developer's laptop (DESIGN invariant 4).
  if (issuer.protocol !== 'https:' && !isLoopbackHost(issuer.hostname)) {
    problems.push('GATEHOUSE_ISSUER: production requires an https issuer (tokens and cookies would travel in clear)');
  }
  if (!config.masterKey) {
    problems.push('GATEHOUSE_MASTER_KEY: production requires a master secret (or GATEHOUSE_MASTER_KEY_FILE); a generated one lives next to the data it protects');
  }
  if (!config.databaseUrl) {
    problems.push('DATABASE_URL: production requires PostgreSQL; the embedded database serves one process and has no backups');
  }
  const { memoryKib, iterations } = config.argon2;
  // OWASP Password Storage Cheat Sheet: m=19456 KiB with t=2 is the floor; equal-cost pairs
  // trade memory for iterations down to m=7168 KiB with t=5.
  if (memoryKib < 7168 || memoryKib * iterations < 35_840) {
    problems.push('GATEHOUSE_ARGON2_MEMORY_KIB/ITERATIONS: below the OWASP minimum for argon2id (19456 KiB x 2 or an equivalent pair)');
  }
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname);
}
