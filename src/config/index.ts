/**
 * Every setting Gatehouse reads, in one place: its variable, type, default and
 * meaning. The README's configuration table is generated from `settings`
 * (`npm run docs:config`), and a test fails when the two disagree.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
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

/** A count per window, written `10/5m`: rate-limit budgets and alert thresholds. */
export interface Threshold {
  count: number;
  windowSeconds: number;
}

function parseThreshold(text: string): Threshold | undefined {
  const match = /^(\d{1,9})\/(.+)$/.exec(text.trim());
  const windowSeconds = match ? parseDuration(match[2]!) : undefined;
  if (!match || !windowSeconds || Number(match[1]) < 1) return undefined;
  return { count: Number(match[1]), windowSeconds };
}

const threshold = z.string().transform((value, ctx) => {
  const parsed = parseThreshold(value);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: 'expected COUNT/WINDOW such as 10/5m' });
    return z.NEVER;
  }
  return parsed;
});

/** A rate-limit budget per client IP and per client id; either may be `off`. */
export interface RateLimitBudget {
  ip: Threshold | undefined;
  client: Threshold | undefined;
}

const budget = z.string().transform((value, ctx): RateLimitBudget => {
  const result: RateLimitBudget = { ip: undefined, client: undefined };
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, limit] = part.split('=', 2).map((p) => p.trim());
    const parsed = limit === 'off' ? undefined : parseThreshold(limit ?? '');
    if ((key !== 'ip' && key !== 'client') || (limit !== 'off' && !parsed)) {
      ctx.addIssue({ code: 'custom', message: 'expected ip=COUNT/WINDOW,client=COUNT/WINDOW (either may be `off`), e.g. ip=600/1m,client=300/1m' });
      return z.NEVER;
    }
    result[key] = parsed;
  }
  return result;
});

const cidrList = z.string().transform((value, ctx) => {
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.filter((e) => !isCidr(e));
  if (entries.length === 0 || bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `expected IP addresses or CIDR ranges${bad.length ? ` (unparseable: ${bad.join(', ')})` : ''}` });
    return z.NEVER;
  }
  return entries;
});

/** Public keys per trusted software-statement issuer (RFC 7591 §2.3): `{"<iss>": {"keys": [JWK, …]}}`. */
export type TrustedIssuerKeys = Record<string, { keys: Array<{ kty: string } & Record<string, unknown>> }>;

const publicJwk = z
  .looseObject({ kty: z.enum(['EC', 'RSA', 'OKP']) })
  .refine((jwk) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk), 'keys must be public keys (a private member was found)');
const trustedIssuerKeys = z
  .record(z.string().min(1).max(500), z.object({ keys: z.array(publicJwk).min(1).max(50) }))
  .refine((issuers) => Object.keys(issuers).length > 0, 'name at least one issuer');

function parseIssuerKeys(text: string, ctx: z.RefinementCtx): TrustedIssuerKeys {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected JSON such as {"https://issuer.example": {"keys": [{"kty": "EC", …}]}}' });
    return z.NEVER;
  }
  const parsed = trustedIssuerKeys.safeParse(value);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ') });
    return z.NEVER;
  }
  return parsed.data as TrustedIssuerKeys;
}

const issuerKeysInline = z.string().transform(parseIssuerKeys);
const issuerKeysFile = z.string().transform((file, ctx) => {
  let text: string;
  try {
    text = readFileSync(path.resolve(file), 'utf8');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `cannot read ${file}: ${(error as Error).message}` });
    return z.NEVER;
  }
  return parseIssuerKeys(text, ctx);
});

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
  { env: 'GATEHOUSE_TRUST_PROXY', default: 'false', description: 'Trust `X-Forwarded-Proto/Host/For` and `X-Request-Id` from the reverse proxies named in `GATEHOUSE_TRUSTED_PROXIES` (required with it).', schema: boolean },
  { env: 'GATEHOUSE_TRUSTED_PROXIES', default: undefined, description: 'Comma-separated addresses or CIDR ranges of the reverse proxies in front of Gatehouse. Forwarded headers from any other peer are ignored; the client IP is the right-most `X-Forwarded-For` hop that is not one of these.', schema: cidrList },
  { env: 'GATEHOUSE_TLS_CERT_FILE', default: undefined, description: 'PEM certificate (chain) for serving HTTPS on the main listener itself; with it, responses carry HSTS. Unset: plain HTTP (behind a TLS-terminating proxy, or loopback in development).', schema: z.string().min(1) },
  { env: 'GATEHOUSE_TLS_KEY_FILE', default: undefined, description: 'PEM private key for `GATEHOUSE_TLS_CERT_FILE`.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_MTLS_PORT', default: 'auto', description: 'Port of the mutual-TLS listener (RFC 8705 endpoint aliases), `off`, or `auto`: 3443 with a generated development certificate when `NODE_ENV=development` (`npm start`), off otherwise.', schema: z.union([z.enum(['auto', 'off']), integer(0, 65535)]) },
  { env: 'GATEHOUSE_MTLS_HOST', default: undefined, description: 'Address the mTLS listener binds to; unset: `GATEHOUSE_HOST`.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_MTLS_ORIGIN', default: undefined, description: 'Public origin of the mTLS endpoint aliases advertised in discovery (`mtls_endpoint_aliases`), e.g. `https://mtls.id.example.com`; unset: `https://localhost:<GATEHOUSE_MTLS_PORT>`. Needed in production and behind a proxy.', schema: z.url() },
  { env: 'GATEHOUSE_MTLS_CERT_FILE', default: undefined, description: 'PEM certificate of the mTLS listener; unset: `GATEHOUSE_TLS_CERT_FILE`, or in development a generated one under `GATEHOUSE_DATA_DIR/tls`.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_MTLS_KEY_FILE', default: undefined, description: 'PEM private key for `GATEHOUSE_MTLS_CERT_FILE`.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_MTLS_CA_FILE', default: undefined, description: 'PEM bundle of the CAs (roots and intermediates) whose client certificates `tls_client_auth` accepts. Unset: only `self_signed_tls_client_auth` can succeed.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_MTLS_PROXY_HEADER', default: undefined, description: 'Header a TLS-terminating proxy puts the client certificate in: `client-cert` (RFC 9440) or e.g. `x-ssl-client-cert` (nginx `$ssl_client_escaped_cert`). Believed only from `GATEHOUSE_TRUSTED_PROXIES`; ignored and logged from anyone else.', schema: z.string().regex(/^[A-Za-z0-9-]{1,64}$/).transform((v) => v.toLowerCase()) },
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
  { env: 'GATEHOUSE_ARGON2_MEMORY_KIB', default: '7168', description: 'argon2id memory cost in KiB. The default pair (7168 KiB, 5 iterations) is one of OWASP\'s five equivalent argon2id settings, chosen because it costs the least CPU and memory per check of the five (bench/RESULTS.md); 19456 with 2 iterations is another.', schema: integer(1024, 4_194_304) },
  { env: 'GATEHOUSE_ARGON2_ITERATIONS', default: '5', description: 'argon2id time cost (iterations); memory × iterations must reach 35840 (OWASP).', schema: integer(1, 100) },
  { env: 'GATEHOUSE_ARGON2_PARALLELISM', default: '1', description: 'argon2id parallelism (lanes).', schema: integer(1, 16) },
  { env: 'GATEHOUSE_LOCKOUT_MAX_FAILURES', default: '5', description: 'Failed password or second-factor attempts an account may have in one lockout window; the next attempt is refused (HTTP 429) until the window ends.', schema: integer(1, 1000) },
  { env: 'GATEHOUSE_LOCKOUT_MAX_FAILURES_PER_IP', default: '30', description: 'Failed attempts one client IP address may have in one lockout window, across all accounts (higher than the per-account limit: many users can share an address).', schema: integer(1, 100_000) },
  { env: 'GATEHOUSE_LOCKOUT_WINDOW', default: '15m', description: 'Lockout window: it starts at the first failure and the counters reset when it ends.', schema: duration },
  { env: 'GATEHOUSE_MFA_REQUIRED', default: 'false', description: 'Require a second factor (TOTP) from every user; users without one set it up during their next sign-in.', schema: boolean },
  { env: 'GATEHOUSE_TOTP_ISSUER', default: undefined, description: 'Name authenticator apps show for Gatehouse accounts (the `issuer` of the `otpauth://` URI); unset: the host name of `GATEHOUSE_ISSUER`.', schema: z.string().trim().min(1).max(64).regex(/^[^:]+$/, 'must not contain a colon (it separates issuer and account in the otpauth label)') },
  { env: 'GATEHOUSE_RATE_LIMITING', default: 'true', description: 'Rate limiting of the protocol endpoints and pages per client IP and per client id (budgets below). Counters are shared by all nodes through PostgreSQL, or kept in memory on the embedded database.', schema: boolean },
  { env: 'GATEHOUSE_RATE_LIMIT_TOKEN', default: 'ip=1200/1m,client=600/1m', description: 'Budget of `/token`: requests per client IP and per client id in a window (`ip=COUNT/WINDOW,client=COUNT/WINDOW`; `off` disables one).', schema: budget },
  { env: 'GATEHOUSE_RATE_LIMIT_AUTHORIZATION', default: 'ip=300/1m,client=3000/1m', description: 'Budget of `/auth`, `/request` (PAR) and `/session/end`.', schema: budget },
  { env: 'GATEHOUSE_RATE_LIMIT_INTROSPECTION', default: 'ip=3000/1m,client=1200/1m', description: 'Budget of `/token/introspection`, `/token/revocation` and `/me` (userinfo is limited per IP only).', schema: budget },
  { env: 'GATEHOUSE_RATE_LIMIT_REGISTRATION', default: 'ip=30/1h,client=60/1m', description: 'Budget of dynamic client registration (`/reg`); the client part applies to a registered client reading or updating itself.', schema: budget },
  { env: 'GATEHOUSE_RATE_LIMIT_INTERACTION', default: 'ip=300/1m,client=off', description: 'Budget of the sign-in pages (`/interaction/…`) per client IP (an office behind one address signs many people in); guessing one account\'s password is stopped by the lockout.', schema: budget },
  { env: 'GATEHOUSE_RATE_LIMIT_ADMIN', default: 'ip=600/1m,client=off', description: 'Budget of the admin API (`/admin/v1/…`) per client IP; the caller is known only after its token is verified, so there is no per-client part.', schema: budget },
  { env: 'GATEHOUSE_ADMIN_API', default: 'true', description: 'Serve the admin API at `/admin/v1` (docs/admin-api.md), authorised by Gatehouse\'s own tokens for audience `urn:gatehouse:admin`.', schema: boolean },
  { env: 'GATEHOUSE_ADMIN_TOKEN_TTL', default: '5m', description: 'Lifetime of access tokens for the admin API (audience `urn:gatehouse:admin`).', schema: duration },
  { env: 'GATEHOUSE_ADMIN_MAX_AUTH_AGE', default: '5m', description: 'A write through the admin API with a user\'s token needs a second factor (`acr` urn:gatehouse:acr:mfa) and a sign-in (`auth_time`) no older than this; else 401 with an RFC 9470 step-up challenge.', schema: duration },
  { env: 'GATEHOUSE_ADMIN_REQUIRE_BOUND_TOKENS', default: 'auto', description: 'Refuse admin API tokens that are not sender-constrained (mTLS `cnf.x5t#S256`, RFC 8705 §3): `true`, `false`, or `auto` (true when `NODE_ENV=production`).', schema: z.enum(['auto', 'true', 'false']) },
  { env: 'GATEHOUSE_METRICS_TOKEN', default: undefined, description: 'Bearer token (at least 32 characters) that `/metrics` requires. Unset: `/metrics` is not served on the main port (only on `GATEHOUSE_METRICS_PORT`, if set).', schema: z.string().min(32) },
  { env: 'GATEHOUSE_METRICS_PORT', default: undefined, description: 'Port of a separate listener that serves only `/metrics`, for a scraper on a private network; unset: no such listener.', schema: integer(0, 65535) },
  { env: 'GATEHOUSE_METRICS_HOST', default: '127.0.0.1', description: 'Address the metrics listener binds to.', schema: z.string().min(1) },
  { env: 'GATEHOUSE_ALERT_WEBHOOK_URL', default: undefined, description: 'URL security alerts are POSTed to as JSON, signed with `GATEHOUSE_ALERT_WEBHOOK_SECRET` (scheme in docs/alerts.md). Unset: alerts are only logged.', schema: z.url({ protocol: /^https?$/ }) },
  { env: 'GATEHOUSE_ALERT_WEBHOOK_SECRET', default: undefined, description: 'HMAC-SHA256 key (at least 32 characters) that signs every alert delivery; required with the URL.', schema: z.string().min(32) },
  { env: 'GATEHOUSE_ALERT_LOGIN_FAILURES', default: '10/5m', description: 'Alert when one account, or one client IP, has this many failed sign-ins within the window.', schema: threshold },
  { env: 'GATEHOUSE_ALERT_INVALID_CLIENT', default: '30/1m', description: 'Alert when client authentication fails (`invalid_client`) this many times within the window, across all clients.', schema: threshold },
  { env: 'GATEHOUSE_REGISTRATION', default: 'token', description: 'Dynamic client registration at `/reg` (RFC 7591, managed per RFC 7592): `token` requires an initial access token (`gatehouse iat create`), `open` lets anyone register under the baseline policy, `off` removes the endpoint.', schema: z.enum(['token', 'open', 'off']) },
  { env: 'GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS', default: undefined, description: 'Trusted software-statement issuers (RFC 7591 §2.3) and their public keys, as JSON: `{"<iss>": {"keys": [<JWK>, …]}}`. Unset (and no `_FILE`): software statements are refused.', schema: issuerKeysInline },
  { env: 'GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE', default: undefined, description: 'Path of a JSON file of the same shape as `GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS`.', schema: issuerKeysFile },
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
  trustedProxies: string[];
  tls: { certFile: string; keyFile: string } | undefined;
  mtls: {
    /** undefined: no mTLS listener (header mode may still be on). */
    port: number | undefined;
    host: string;
    origin: string | undefined;
    certFile: string | undefined;
    keyFile: string | undefined;
    caFile: string | undefined;
    proxyHeader: string | undefined;
  };
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
  lockout: { maxFailures: number; maxFailuresPerIp: number; windowSeconds: number };
  mfa: { required: boolean; totpIssuer: string };
  rateLimits: { enabled: boolean; budgets: Record<RateLimitClass, RateLimitBudget> };
  metrics: { token: string | undefined; port: number | undefined; host: string };
  alerts: { webhookUrl: string | undefined; webhookSecret: string | undefined; loginFailures: Threshold; invalidClient: Threshold };
  registration: { mode: 'token' | 'open' | 'off'; softwareStatementIssuers: TrustedIssuerKeys };
  admin: { enabled: boolean; tokenTtlSeconds: number; maxAuthAgeSeconds: number; requireBoundTokens: boolean };
}

/** Endpoint classes with their own rate-limit budgets. */
export type RateLimitClass = 'token' | 'authorization' | 'introspection' | 'registration' | 'interaction' | 'admin';

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
    trustedProxies: get<string[] | undefined>('GATEHOUSE_TRUSTED_PROXIES') ?? [],
    tls: filePair(get('GATEHOUSE_TLS_CERT_FILE'), get('GATEHOUSE_TLS_KEY_FILE')),
    mtls: mtlsSettings(values, get<Config['env']>('NODE_ENV')),
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
    lockout: {
      maxFailures: get('GATEHOUSE_LOCKOUT_MAX_FAILURES'),
      maxFailuresPerIp: get('GATEHOUSE_LOCKOUT_MAX_FAILURES_PER_IP'),
      windowSeconds: get('GATEHOUSE_LOCKOUT_WINDOW'),
    },
    mfa: {
      required: get('GATEHOUSE_MFA_REQUIRED'),
      totpIssuer: get<string | undefined>('GATEHOUSE_TOTP_ISSUER') ?? '',
    },
    rateLimits: {
      enabled: get('GATEHOUSE_RATE_LIMITING'),
      budgets: {
        token: get('GATEHOUSE_RATE_LIMIT_TOKEN'),
        authorization: get('GATEHOUSE_RATE_LIMIT_AUTHORIZATION'),
        introspection: get('GATEHOUSE_RATE_LIMIT_INTROSPECTION'),
        registration: get('GATEHOUSE_RATE_LIMIT_REGISTRATION'),
        interaction: get('GATEHOUSE_RATE_LIMIT_INTERACTION'),
        admin: get('GATEHOUSE_RATE_LIMIT_ADMIN'),
      },
    },
    metrics: { token: get('GATEHOUSE_METRICS_TOKEN'), port: get('GATEHOUSE_METRICS_PORT'), host: get('GATEHOUSE_METRICS_HOST') },
    alerts: {
      webhookUrl: get('GATEHOUSE_ALERT_WEBHOOK_URL'),
      webhookSecret: get('GATEHOUSE_ALERT_WEBHOOK_SECRET'),
      loginFailures: get('GATEHOUSE_ALERT_LOGIN_FAILURES'),
      invalidClient: get('GATEHOUSE_ALERT_INVALID_CLIENT'),
    },
    registration: {
      mode: get('GATEHOUSE_REGISTRATION'),
      softwareStatementIssuers: get<TrustedIssuerKeys | undefined>('GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS') ?? get<TrustedIssuerKeys | undefined>('GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE') ?? {},
    },
    admin: {
      enabled: get('GATEHOUSE_ADMIN_API'),
      tokenTtlSeconds: get('GATEHOUSE_ADMIN_TOKEN_TTL'),
      maxAuthAgeSeconds: get('GATEHOUSE_ADMIN_MAX_AUTH_AGE'),
      requireBoundTokens: get<string>('GATEHOUSE_ADMIN_REQUIRE_BOUND_TOKENS') === 'auto' ? get('NODE_ENV') === 'production' : get<string>('GATEHOUSE_ADMIN_REQUIRE_BOUND_TOKENS') === 'true',
    },
  };
  // The host name without the port: a colon would split the otpauth label (Key Uri Format).
  config.mfa.totpIssuer ||= new URL(config.issuer).hostname;
  checkConsistency(config, env, problems);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return config;
}

function masterKeySource(value: string | undefined, file: string | undefined): Config['masterKey'] {
  if (value !== undefined) return { value };
  if (file !== undefined) return { file: path.resolve(file) };
  return undefined;
}

function filePair(cert: string | undefined, key: string | undefined): { certFile: string; keyFile: string } | undefined {
  return cert && key ? { certFile: path.resolve(cert), keyFile: path.resolve(key) } : undefined;
}

function mtlsSettings(values: Record<string, unknown>, env: Config['env']): Config['mtls'] {
  const port = values.GATEHOUSE_MTLS_PORT as number | 'auto' | 'off';
  const resolved = port === 'off' ? undefined : port === 'auto' ? (env === 'development' ? 3443 : undefined) : port;
  const file = (name: string) => (values[name] === undefined ? undefined : path.resolve(values[name] as string));
  return {
    port: resolved,
    host: (values.GATEHOUSE_MTLS_HOST as string | undefined) ?? (values.GATEHOUSE_HOST as string),
    origin: (values.GATEHOUSE_MTLS_ORIGIN as string | undefined)?.replace(/\/$/, ''),
    certFile: file('GATEHOUSE_MTLS_CERT_FILE') ?? file('GATEHOUSE_TLS_CERT_FILE'),
    keyFile: file('GATEHOUSE_MTLS_KEY_FILE') ?? file('GATEHOUSE_TLS_KEY_FILE'),
    caFile: file('GATEHOUSE_MTLS_CA_FILE'),
    proxyHeader: values.GATEHOUSE_MTLS_PROXY_HEADER as string | undefined,
  };
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
  if (env.GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS && env.GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE) {
    problems.push('GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS and GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE: set one, not both');
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
  if (config.trustProxy && config.trustedProxies.length === 0) {
    problems.push('GATEHOUSE_TRUST_PROXY: name the proxies in GATEHOUSE_TRUSTED_PROXIES; trusting forwarded headers from any peer lets every client choose its own IP');
  }
  if (!config.trustProxy && config.trustedProxies.length > 0) {
    problems.push('GATEHOUSE_TRUSTED_PROXIES: set GATEHOUSE_TRUST_PROXY=true as well, or remove the list');
  }
  if (Boolean(config.alerts.webhookUrl) !== Boolean(config.alerts.webhookSecret)) {
    problems.push('GATEHOUSE_ALERT_WEBHOOK_URL and GATEHOUSE_ALERT_WEBHOOK_SECRET: set both or neither (deliveries are always signed)');
  }
  if (config.metrics.port && config.metrics.port === config.port) {
    problems.push('GATEHOUSE_METRICS_PORT: must differ from GATEHOUSE_PORT');
  }
  if (config.ttl.refreshToken < config.ttl.accessToken) {
    problems.push('GATEHOUSE_REFRESH_TOKEN_TTL: must not be shorter than GATEHOUSE_ACCESS_TOKEN_TTL');
  }
  if (Boolean(env.GATEHOUSE_TLS_CERT_FILE) !== Boolean(env.GATEHOUSE_TLS_KEY_FILE)) {
    problems.push('GATEHOUSE_TLS_CERT_FILE and GATEHOUSE_TLS_KEY_FILE: set both or neither');
  }
  if (Boolean(env.GATEHOUSE_MTLS_CERT_FILE) !== Boolean(env.GATEHOUSE_MTLS_KEY_FILE)) {
    problems.push('GATEHOUSE_MTLS_CERT_FILE and GATEHOUSE_MTLS_KEY_FILE: set both or neither');
  }
  if (config.mtls.proxyHeader && config.trustedProxies.length === 0) {
    problems.push('GATEHOUSE_MTLS_PROXY_HEADER: needs GATEHOUSE_TRUSTED_PROXIES, the only peers whose certificate header is believed');
  }
  if (config.mtls.proxyHeader && !config.mtls.origin) {
    problems.push('GATEHOUSE_MTLS_ORIGIN: required with GATEHOUSE_MTLS_PROXY_HEADER (the proxy\'s mTLS origin, advertised in discovery)');
  }
  if (config.env !== 'production') return;
  if (config.mtls.port !== undefined && !config.mtls.certFile) {
    problems.push('GATEHOUSE_MTLS_PORT: production requires GATEHOUSE_MTLS_CERT_FILE/KEY_FILE (or GATEHOUSE_TLS_*) for the mTLS listener; a generated development certificate is not for production');
  }
  if (config.mtls.port !== undefined && !config.mtls.origin) {
    problems.push('GATEHOUSE_MTLS_ORIGIN: production requires the public origin of the mTLS listener');
  }

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
  // OWASP Password Storage Cheat Sheet: m=19456 KiB with t=2 is the floor; equal-defence pairs
  // trade memory for iterations down to m=7168 KiB with t=5.
  if (memoryKib < 7168 || memoryKib * iterations < 35_840) {
    problems.push('GATEHOUSE_ARGON2_MEMORY_KIB/ITERATIONS: below the OWASP minimum for argon2id (19456 KiB x 2 or an equivalent pair)');
  }
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`: an address, optionally with a prefix length that fits its family. */
export function isCidr(text: string): boolean {
  const [address, prefix, extra] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
