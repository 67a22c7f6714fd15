/**
 * Every setting Gatehouse reads, in one place: where it sits in `Config`, its
 * variable, default, format and meaning. The type of `Config` is derived from
 * this table (`ValuesOf` below, then `resolveConfig` in resolve.ts), the README's configuration
 * table is generated from it (`npm run docs:config`), and a test fails when
 * the two disagree. Order here is the README's order.
 *
 * To add a setting, add one row where it belongs in `Config`:
 *   name: setting('GATEHOUSE_NAME', 'default' | undefined, format, 'Meaning, for the README.'),
 * with a format from formats.ts (or zod). A row without a default reads as
 * `T | undefined`. Run `npm run docs:config`.
 */
import { z } from 'zod';

import {
  boolean,
  budget,
  cidrList,
  duration,
  integer,
  issuerKeysFile,
  issuerKeysInline,
  listOf,
  port,
  text,
  threshold,
} from './formats.js';
import { hostPatternList, resolveOverrides, resourceIndicatorList } from './outbound-formats.js';

/** One environment variable: its name, default (as written in the environment), format and meaning. */
export interface Setting<T = unknown, D extends string | undefined = string | undefined> {
  readonly env: string;
  readonly default: D;
  readonly schema: z.ZodType<T>;
  readonly description: string;
}

export function setting<T, const D extends string | undefined>(env: string, defaultValue: D, schema: z.ZodType<T>, description: string): Setting<T, D> {
  return { env, default: defaultValue, schema, description };
}

/** A group of settings, nested as in `Config`. */
export interface SettingGroup {
  readonly [field: string]: Setting | SettingGroup;
}

/** The parsed values of a table: each setting's type, `| undefined` when it has no default. */
export type ValuesOf<G> = {
  -readonly [K in keyof G]: G[K] extends Setting<infer T, infer D> ? (D extends string ? T : T | undefined) : ValuesOf<G[K]>;
};

export function isSetting(entry: Setting | SettingGroup): entry is Setting {
  return typeof entry.env === 'string' && 'schema' in entry;
}

/** The table's settings with their field paths, in table (README) order. */
export function flatten(group: SettingGroup, prefix: string[] = []): Array<{ path: string[]; setting: Setting }> {
  return Object.entries(group).flatMap(([field, entry]) =>
    isSetting(entry) ? [{ path: [...prefix, field], setting: entry }] : flatten(entry, [...prefix, field]),
  );
}

export const settingTable = {
  env: setting('NODE_ENV', 'development', z.enum(['development', 'production', 'test']),
    '`production` turns every unsafe default into a start-up error (http issuer, embedded database, generated master key, weak argon2 cost).'),
  issuer: setting('GATEHOUSE_ISSUER', undefined, z.url(),
    'Public issuer URL; unset: `http://localhost:<GATEHOUSE_PORT>` (scheme, host, optional path; no query or fragment). Must be https in production unless loopback.'),
  host: setting('GATEHOUSE_HOST', '127.0.0.1', text,
    'Address the HTTP listener binds to (`0.0.0.0` in containers).'),
  port: setting('GATEHOUSE_PORT', '3000', port,
    'Port of the HTTP listener (0 picks a free port).'),
  trustProxy: setting('GATEHOUSE_TRUST_PROXY', 'false', boolean,
    'Trust `X-Forwarded-Proto/Host/For` and `X-Request-Id` from the reverse proxies named in `GATEHOUSE_TRUSTED_PROXIES` (required with it).'),
  trustedProxies: setting('GATEHOUSE_TRUSTED_PROXIES', undefined, cidrList,
    'Comma-separated addresses or CIDR ranges of the reverse proxies in front of Gatehouse. Forwarded headers from any other peer are ignored; the client IP is the right-most `X-Forwarded-For` hop that is not one of these.'),
  tls: {
    certFile: setting('GATEHOUSE_TLS_CERT_FILE', undefined, text,
      'PEM certificate (chain) for serving HTTPS on the main listener itself; with it, responses carry HSTS. Unset: plain HTTP (behind a TLS-terminating proxy, or loopback in development).'),
    keyFile: setting('GATEHOUSE_TLS_KEY_FILE', undefined, text,
      'PEM private key for `GATEHOUSE_TLS_CERT_FILE`.'),
  },
  mtls: {
    port: setting('GATEHOUSE_MTLS_PORT', 'auto', z.union([z.enum(['auto', 'off']), port]),
      'Port of the mutual-TLS listener (RFC 8705 endpoint aliases), `off`, or `auto`: 3443 with a generated development certificate when `NODE_ENV=development` (`npm start`), off otherwise.'),
    host: setting('GATEHOUSE_MTLS_HOST', undefined, text,
      'Address the mTLS listener binds to; unset: `GATEHOUSE_HOST`.'),
    origin: setting('GATEHOUSE_MTLS_ORIGIN', undefined, z.url(),
      'Public origin of the mTLS endpoint aliases advertised in discovery (`mtls_endpoint_aliases`), e.g. `https://mtls.id.example.com`; unset: `https://localhost:<GATEHOUSE_MTLS_PORT>`. Needed in production and behind a proxy.'),
    certFile: setting('GATEHOUSE_MTLS_CERT_FILE', undefined, text,
      'PEM certificate of the mTLS listener; unset: `GATEHOUSE_TLS_CERT_FILE`, or in development a generated one under `GATEHOUSE_DATA_DIR/tls`.'),
    keyFile: setting('GATEHOUSE_MTLS_KEY_FILE', undefined, text,
      'PEM private key for `GATEHOUSE_MTLS_CERT_FILE`.'),
    caFile: setting('GATEHOUSE_MTLS_CA_FILE', undefined, text,
      'PEM bundle of the CAs (roots and intermediates) whose client certificates `tls_client_auth` accepts. Unset: only `self_signed_tls_client_auth` can succeed.'),
    proxyHeader: setting('GATEHOUSE_MTLS_PROXY_HEADER', undefined, z.string().regex(/^[A-Za-z0-9-]{1,64}$/).transform((v) => v.toLowerCase()),
      'Header a TLS-terminating proxy puts the client certificate in: `client-cert` (RFC 9440) or e.g. `x-ssl-client-cert` (nginx `$ssl_client_escaped_cert`). Believed only from `GATEHOUSE_TRUSTED_PROXIES`; ignored and logged from anyone else.'),
  },
  databaseUrl: setting('DATABASE_URL', undefined, z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    'PostgreSQL connection URL. Unset: the embedded database in `GATEHOUSE_DATA_DIR` is used (one process only; refused in production).'),
  dbPoolMax: setting('GATEHOUSE_DB_POOL_MAX', '10', integer(2, 500),
    'Maximum PostgreSQL connections per process (one more is held for LISTEN).'),
  databaseDirectUrl: setting('GATEHOUSE_DATABASE_DIRECT_URL', undefined, z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
    'A direct (not pooled) PostgreSQL URL for what needs a session of its own: `LISTEN` and the advisory locks of one-node jobs (migrations, cleanup, key rotation). Unset: `DATABASE_URL`. Required with `GATEHOUSE_DATABASE_POOLER=transaction`.'),
  databasePooler: setting('GATEHOUSE_DATABASE_POOLER', 'none', z.enum(['none', 'transaction']),
    '`transaction`: `DATABASE_URL` goes through a pooler in transaction mode (PgBouncer, a cloud proxy), so statements are sent unprepared and sessions are taken only from `GATEHOUSE_DATABASE_DIRECT_URL`. `none`: a direct connection or session pooling; statements are prepared once per connection.'),
  dataDir: setting('GATEHOUSE_DATA_DIR', './data', text,
    'Directory for the embedded database and, in development, the generated master key.'),
  masterKey: {
    value: setting('GATEHOUSE_MASTER_KEY', undefined, z.string().min(32),
      'Master secret (at least 32 bytes, base64url or hex) from which the keys encrypting client secrets, TOTP seeds and private keys are derived. Required in production (this or the `_FILE` form).'),
    file: setting('GATEHOUSE_MASTER_KEY_FILE', undefined, text,
      'Path of a file holding the master secret (for mounted secrets).'),
  },
  previousMasterKey: {
    value: setting('GATEHOUSE_MASTER_KEY_PREVIOUS', undefined, z.string().min(32),
      'During a master-secret rotation only: the previous secret, still accepted for decryption until `gatehouse keys rewrap` has re-sealed everything.'),
    file: setting('GATEHOUSE_MASTER_KEY_PREVIOUS_FILE', undefined, text,
      'File form of `GATEHOUSE_MASTER_KEY_PREVIOUS`.'),
  },
  keys: {
    algorithms: setting('GATEHOUSE_SIGNING_ALGORITHMS', 'ES256,RS256', listOf(['ES256', 'RS256', 'PS256', 'EdDSA']),
      'Comma-separated JWS algorithms that always have an active signing key (ES256, RS256, PS256, EdDSA). ES256 signs by default; the others serve clients that ask for them.'),
    rotationIntervalSeconds: setting('GATEHOUSE_KEY_ROTATION_INTERVAL', '30d', duration,
      'How long a signing key signs before the scheduled rotation replaces it.'),
    publishDelaySeconds: setting('GATEHOUSE_KEY_PUBLISH_DELAY', '24h', duration,
      'How long a new key is published in the JWKS before it signs: the longest time a relying party may cache the JWKS.'),
    checkIntervalSeconds: setting('GATEHOUSE_KEY_CHECK_INTERVAL', '10s', duration,
      'How often each node re-reads the key set, in case a change notification was lost.'),
    jwksMaxAgeSeconds: setting('GATEHOUSE_JWKS_MAX_AGE', '5m', duration,
      '`Cache-Control: max-age` of the JWKS response.'),
  },
  logLevel: setting('GATEHOUSE_LOG_LEVEL', 'info', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    'Log level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`.'),
  ttl: {
    accessToken: setting('GATEHOUSE_ACCESS_TOKEN_TTL', '10m', duration,
      'Lifetime of access tokens issued to users when the resource server sets none.'),
    clientCredentials: setting('GATEHOUSE_CLIENT_CREDENTIALS_TTL', '10m', duration,
      'Lifetime of client-credentials access tokens when the resource server sets none.'),
    idToken: setting('GATEHOUSE_ID_TOKEN_TTL', '1h', duration,
      'Lifetime of ID tokens.'),
    apiKeyToken: setting('GATEHOUSE_API_KEY_TOKEN_TTL', '5m', duration,
      'Longest lifetime of an access token exchanged for an API key (RFC 8693); the resource server\'s and the client\'s exchange policy may shorten it.'),
    authorizationCode: setting('GATEHOUSE_AUTHORIZATION_CODE_TTL', '60s', duration,
      'Lifetime of authorization codes.'),
    refreshToken: setting('GATEHOUSE_REFRESH_TOKEN_TTL', '14d', duration,
      'Lifetime of refresh tokens (rotated ones keep the remaining lifetime of the first).'),
    session: setting('GATEHOUSE_SESSION_TTL', '14d', duration,
      'Lifetime of a browser sign-in session.'),
    grant: setting('GATEHOUSE_GRANT_TTL', '14d', duration,
      'Lifetime of a grant (the record of what a user allowed a client).'),
    interaction: setting('GATEHOUSE_INTERACTION_TTL', '15m', duration,
      'Time a user has to finish the login and consent pages.'),
  },
  backchannelLogout: {
    attempts: setting('GATEHOUSE_BACKCHANNEL_LOGOUT_ATTEMPTS', '6', integer(1, 20),
      'Delivery attempts of one back-channel logout token before it is given up (audited as `logout.backchannel_failed`, counted in `gatehouse_backchannel_logouts_total`).'),
    retryDelaySeconds: setting('GATEHOUSE_BACKCHANNEL_LOGOUT_RETRY', '10s', duration,
      'Wait before the first retry of a failed back-channel logout; each further retry waits twice as long.'),
    pollIntervalSeconds: setting('GATEHOUSE_BACKCHANNEL_LOGOUT_POLL', '5s', duration,
      'How often each node looks for back-channel logouts that are due (new ones are sent at once, on a notification).'),
    allowLoopback: setting('GATEHOUSE_BACKCHANNEL_LOGOUT_ALLOW_LOOPBACK', 'false', boolean,
      'Lets logout tokens go to loopback addresses (relying parties on this machine, in development and tests). Off, the library\'s SSRF protection refuses every special-use address; production refuses `true`.'),
  },
  cleanupIntervalSeconds: setting('GATEHOUSE_CLEANUP_INTERVAL', '5m', duration,
    'How often one node deletes expired tokens, sessions and interactions.'),
  stats: {
    retentionSeconds: setting('GATEHOUSE_STATS_RETENTION', '14d', duration,
      'How long the per-minute roll-ups behind the console dashboard and `GET /admin/v1/stats` are kept (docs/console.md); older minutes go with the expired-row cleanup.'),
    flushIntervalSeconds: setting('GATEHOUSE_STATS_FLUSH_INTERVAL', '10s', duration,
      'How often each node adds its in-memory roll-up counters to the shared per-minute table (one upsert per interval, off the request path).'),
  },
  argon2: {
    memoryKib: setting('GATEHOUSE_ARGON2_MEMORY_KIB', '7168', integer(1024, 4_194_304),
      'argon2id memory cost in KiB. The default pair (7168 KiB, 5 iterations) is one of OWASP\'s five equivalent argon2id settings, chosen because it costs the least CPU and memory per check of the five (bench/RESULTS.md); 19456 with 2 iterations is another.'),
    iterations: setting('GATEHOUSE_ARGON2_ITERATIONS', '5', integer(1, 100),
      'argon2id time cost (iterations); memory × iterations must reach 35840 (OWASP).'),
    parallelism: setting('GATEHOUSE_ARGON2_PARALLELISM', '1', integer(1, 16),
      'argon2id parallelism (lanes).'),
  },
  passwords: {
    minLength: setting('GATEHOUSE_PASSWORD_MIN_LENGTH', '12', integer(8, 64),
      'Fewest characters a new password may have (NIST SP 800-63B: at least 8, and no composition rules). Every new password is also checked against an offline list of common and breached passwords and the account\'s own identifiers.'),
  },
  lockout: {
    maxFailures: setting('GATEHOUSE_LOCKOUT_MAX_FAILURES', '5', integer(1, 1000),
      'Failed password or second-factor attempts an account may have in one lockout window; the next attempt is refused (HTTP 429) until the window ends.'),
    maxFailuresPerIp: setting('GATEHOUSE_LOCKOUT_MAX_FAILURES_PER_IP', '30', integer(1, 100_000),
      'Failed attempts one client IP address may have in one lockout window, across all accounts (higher than the per-account limit: many users can share an address).'),
    windowSeconds: setting('GATEHOUSE_LOCKOUT_WINDOW', '15m', duration,
      'Lockout window: it starts at the first failure and the counters reset when it ends.'),
  },
  deviceFlow: {
    codeTtl: setting('GATEHOUSE_DEVICE_CODE_TTL', '10m', duration,
      'Lifetime of a device authorization (RFC 8628): the user must enter the code and sign in within it.'),
    pollInterval: setting('GATEHOUSE_DEVICE_POLL_INTERVAL', '5s', duration,
      'Seconds a device waits between token requests (RFC 8628 §3.2 `interval`); a poll sooner is answered `slow_down` (§3.5).'),
    maxGuessesPerIp: setting('GATEHOUSE_DEVICE_CODE_MAX_GUESSES_PER_IP', '10', integer(1, 100_000),
      'Wrong user codes one client address (an IPv6 /64) may enter in one lockout window (GATEHOUSE_LOCKOUT_WINDOW) before the code page refuses it (HTTP 429).'),
  },
  mfa: {
    required: setting('GATEHOUSE_MFA_REQUIRED', 'false', boolean,
      'Require a second factor (TOTP) from every user; users without one set it up during their next sign-in.'),
    totpIssuer: setting('GATEHOUSE_TOTP_ISSUER', undefined, z.string().trim().min(1).max(64).regex(/^[^:]+$/, 'must not contain a colon (it separates issuer and account in the otpauth label)'),
      'Name authenticator apps show for Gatehouse accounts (the `issuer` of the `otpauth://` URI); unset: the host name of `GATEHOUSE_ISSUER`.'),
  },
  federation: {
    allowHttpLoopback: setting('GATEHOUSE_FEDERATION_ALLOW_HTTP_LOOPBACK', 'false', boolean,
      'Let upstream identity providers (docs/federation.md) be reached over plain http on a loopback address, for development and tests. Refused in production: upstreams are https only.'),
  },
  passkeys: {
    rpId: setting('GATEHOUSE_PASSKEY_RP_ID', undefined, z.string().trim().toLowerCase().min(1).max(253).regex(/^[a-z0-9.-]+$/, 'must be a host name (no scheme, port or path)'),
      'WebAuthn relying party ID passkeys are bound to (a registrable suffix of the issuer\'s host, e.g. `example.com` for `https://id.example.com`); unset: the host name of `GATEHOUSE_ISSUER`. Changing it orphans every registered passkey.'),
    rpName: setting('GATEHOUSE_PASSKEY_RP_NAME', 'Gatehouse', z.string().trim().min(1).max(64),
      'Name the browser and authenticator show when a passkey is created.'),
    attestation: setting('GATEHOUSE_PASSKEY_ATTESTATION', 'none', z.enum(['none', 'direct']),
      'Attestation asked for when a passkey is registered: `none` (any authenticator, no attestation statement kept), or `direct` (the authenticator\'s attestation statement is requested and verified, and a registration without one is refused).'),
  },
  mail: {
    smtpUrl: setting('GATEHOUSE_SMTP_URL', undefined, z.url({ protocol: /^smtps?$/ }),
      'SMTP server that password-reset, email-verification and security-notice messages go through (docs/email.md): `smtps://user:pass@host:465` (TLS from the start) or `smtp://host:587` (STARTTLS). Unset: Gatehouse sends no mail, and the sign-in page offers no password reset.'),
    from: setting('GATEHOUSE_MAIL_FROM', undefined, z.string().trim().min(3).max(254).regex(/^[^\r\n]+@[^\r\n]+$/, 'must be an address, optionally with a display name: `Gatehouse <id@example.com>`'),
      'The `From` of every message; required with `GATEHOUSE_SMTP_URL`.'),
    requireTls: setting('GATEHOUSE_SMTP_REQUIRE_TLS', 'auto', z.enum(['auto', 'true', 'false']),
      'Refuse to send over an SMTP connection that is not encrypted (`smtps://`, or `smtp://` that must upgrade with STARTTLS) and not verified: `true`, `false`, or `auto` (true when `NODE_ENV=production`). Reset links are credentials; they never travel in clear by default.'),
    attempts: setting('GATEHOUSE_MAIL_ATTEMPTS', '6', integer(1, 20),
      'Delivery attempts of one message before it is given up (audited as `mail.failed`); its recipient and body are then erased.'),
    retryDelaySeconds: setting('GATEHOUSE_MAIL_RETRY', '30s', duration,
      'Wait before the first retry of a message the SMTP server did not take; each further retry waits twice as long.'),
    pollIntervalSeconds: setting('GATEHOUSE_MAIL_POLL', '10s', duration,
      'How often each node looks for messages that are due (new ones are sent at once, on a notification).'),
    resetTtlSeconds: setting('GATEHOUSE_PASSWORD_RESET_TTL', '20m', duration,
      'Lifetime of a password-reset link; it also stops working once used or once a newer link is sent.'),
    verificationTtlSeconds: setting('GATEHOUSE_EMAIL_VERIFICATION_TTL', '24h', duration,
      'Lifetime of an email-verification link.'),
    resetPerAccount: setting('GATEHOUSE_PASSWORD_RESET_LIMIT_ACCOUNT', '3/1h', threshold,
      'Reset requests that send a message per account (or per name typed, when it matches none) in a window; past it the page answers the same and nothing is sent.'),
    resetPerIp: setting('GATEHOUSE_PASSWORD_RESET_LIMIT_IP', '20/1h', threshold,
      'Reset requests per client IP address in a window, across all names.'),
  },
  profile: setting('GATEHOUSE_PROFILE', 'standard', z.enum(['standard', 'fapi2']),
    '`fapi2`: every client follows the FAPI 2.0 Security Profile (PAR, PKCE S256, DPoP- or certificate-bound tokens, `private_key_jwt` or mTLS client authentication, PS256/ES256/EdDSA only, codes of at most 60 s, no refresh-token rotation); `standard`: only clients registered with `security_profile: fapi2` (CLI `--profile fapi2`) do (docs/fapi.md).'),
  dpop: {
    requireNonce: setting('GATEHOUSE_DPOP_REQUIRE_NONCE', 'true', boolean,
      'DPoP proofs (RFC 9449) must carry a server-provided nonce (`DPoP-Nonce`, error `use_dpop_nonce`); nonces come from a key derived from the master secret, so any node accepts any other node\'s.'),
    publicClientsRequireDpop: setting('GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP', 'false', boolean,
      'Every public client (no client authentication) must use DPoP, as if registered with `dpop_bound_access_tokens: true`; refresh tokens of public clients are then bound to the same key. One client: `gatehouse clients add --dpop`.'),
  },
  admin: {
    enabled: setting('GATEHOUSE_ADMIN_API', 'true', boolean,
      'Serve the admin API at `/admin/v1` (docs/admin-api.md), authorised by Gatehouse\'s own tokens for audience `urn:gatehouse:admin`.'),
    tokenTtlSeconds: setting('GATEHOUSE_ADMIN_TOKEN_TTL', '5m', duration,
      'Lifetime of access tokens for the admin API (audience `urn:gatehouse:admin`).'),
    maxAuthAgeSeconds: setting('GATEHOUSE_ADMIN_MAX_AUTH_AGE', '5m', duration,
      'A write through the admin API with a user\'s token needs a second factor (`acr` urn:gatehouse:acr:mfa) and a sign-in (`auth_time`) no older than this; else 401 with an RFC 9470 step-up challenge.'),
    requireBoundTokens: setting('GATEHOUSE_ADMIN_REQUIRE_BOUND_TOKENS', 'auto', z.enum(['auto', 'true', 'false']),
      'Refuse admin API tokens that are not sender-constrained (mTLS `cnf.x5t#S256`, RFC 8705 §3): `true`, `false`, or `auto` (true when `NODE_ENV=production`).'),
    idempotencyTtlSeconds: setting('GATEHOUSE_ADMIN_IDEMPOTENCY_TTL', '24h', duration,
      'How long the admin API keeps the response of a create sent with `Idempotency-Key`, to answer a retry with the same key (docs/admin-api.md); only hashes and the response without any value shown once are stored.'),
    port: setting('GATEHOUSE_ADMIN_PORT', undefined, port,
      'Port of a separate listener that serves only `/admin/v1` (the main listener then answers 404 there), with the main listener\'s TLS; unset: the admin API is on the main listener.'),
    host: setting('GATEHOUSE_ADMIN_HOST', '127.0.0.1', text,
      'Address the separate admin listener binds to (only with `GATEHOUSE_ADMIN_PORT`).'),
  },
  rbac: {
    claimLimit: setting('GATEHOUSE_RBAC_CLAIM_LIMIT', '100', integer(1, 1000),
      'Most roles, and most groups, one user or client may hold (docs/rbac.md): they become `roles` and `groups` claims, so an assignment past it is refused with a clear error instead of growing tokens without bound.'),
  },
  rateLimits: {
    enabled: setting('GATEHOUSE_RATE_LIMITING', 'true', boolean,
      'Rate limiting of the protocol endpoints and pages per client IP and per client id (budgets below). Counters are shared by all nodes through PostgreSQL, or kept in memory on the embedded database.'),
    budgets: {
      token: setting('GATEHOUSE_RATE_LIMIT_TOKEN', 'ip=1200/1m,client=600/1m', budget,
        'Budget of `/token`: requests per client IP and per client id in a window (`ip=COUNT/WINDOW,client=COUNT/WINDOW`; `off` disables one).'),
      authorization: setting('GATEHOUSE_RATE_LIMIT_AUTHORIZATION', 'ip=300/1m,client=3000/1m', budget,
        'Budget of `/auth`, `/request` (PAR) and `/session/end`.'),
      introspection: setting('GATEHOUSE_RATE_LIMIT_INTROSPECTION', 'ip=3000/1m,client=1200/1m', budget,
        'Budget of `/token/introspection`, `/token/revocation` and `/me` (userinfo is limited per IP only).'),
      registration: setting('GATEHOUSE_RATE_LIMIT_REGISTRATION', 'ip=30/1h,client=60/1m', budget,
        'Budget of dynamic client registration (`/reg`); the client part applies to a registered client reading or updating itself.'),
      interaction: setting('GATEHOUSE_RATE_LIMIT_INTERACTION', 'ip=300/1m,client=off', budget,
        'Budget of the sign-in pages (`/interaction/…`) per client IP (an office behind one address signs many people in); guessing one account\'s password is stopped by the lockout.'),
      admin: setting('GATEHOUSE_RATE_LIMIT_ADMIN', 'ip=600/1m,client=off', budget,
        'Budget of the admin API (`/admin/v1/…`) per client IP; the caller is known only after its token is verified, so there is no per-client part.'),
      other: setting('GATEHOUSE_RATE_LIMIT_OTHER', 'ip=3000/1m,client=off', budget,
        'Budget of every other path per client IP: discovery, `/jwks`, static assets, reserved prefixes and paths Gatehouse does not serve (so no path escapes rate limiting). `/healthz`, `/readyz` and `/metrics` are not limited.'),
    },
    registrationPerToken: setting('GATEHOUSE_RATE_LIMIT_REGISTRATION_TOKEN', '300/1h', z.union([z.literal('off'), threshold]).transform((v) => (v === 'off' ? undefined : v)),
      'Budget of `/reg` for a request carrying a valid initial access token, counted per token instead of per client IP (so one CI runner registering with a token does not spend the anonymous per-IP budget above); `off` counts such requests per IP like any other.'),
    clientAuthFailures: setting('GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES', 'ip=20/1m,client=10/1m', budget,
      'Failed client authentications (`invalid_client` at `/token`, `/token/introspection`, `/token/revocation`, `/request`) allowed per client IP and per client id in a window; over it, requests from that address or naming that client get 429 with `Retry-After` before any secret is checked.'),
  },
  metrics: {
    token: setting('GATEHOUSE_METRICS_TOKEN', undefined, z.string().min(32),
      'Bearer token (at least 32 characters) that `/metrics` requires. Unset: `/metrics` is not served on the main port (only on `GATEHOUSE_METRICS_PORT`, if set).'),
    port: setting('GATEHOUSE_METRICS_PORT', undefined, port,
      'Port of a separate listener that serves only `/metrics`, for a scraper on a private network; unset: no such listener.'),
    host: setting('GATEHOUSE_METRICS_HOST', '127.0.0.1', text,
      'Address the metrics listener binds to.'),
  },
  alerts: {
    webhookUrl: setting('GATEHOUSE_ALERT_WEBHOOK_URL', undefined, z.url({ protocol: /^https?$/ }),
      'URL security alerts are POSTed to as JSON, signed with `GATEHOUSE_ALERT_WEBHOOK_SECRET` (scheme in docs/alerts.md). Unset: alerts are only logged.'),
    webhookSecret: setting('GATEHOUSE_ALERT_WEBHOOK_SECRET', undefined, z.string().min(32),
      'HMAC-SHA256 key (at least 32 characters) that signs every alert delivery; required with the URL.'),
    loginFailures: setting('GATEHOUSE_ALERT_LOGIN_FAILURES', '10/5m', threshold,
      'Alert when one account, or one client IP, has this many failed sign-ins within the window.'),
    invalidClient: setting('GATEHOUSE_ALERT_INVALID_CLIENT', '30/1m', threshold,
      'Alert when client authentication fails (`invalid_client`) this many times within the window, across all clients.'),
  },
  clientMetadataDocuments: {
    hosts: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_HOSTS', undefined, hostPatternList,
      'Hosts whose https URLs may be used as a `client_id` (OAuth Client ID Metadata Documents, docs/mcp.md): comma-separated names, `*.example.com` for the subdomains of one. Unset: the feature is off and URL client ids are unknown clients.'),
    resources: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_RESOURCES', '', resourceIndicatorList,
      'Resource indicators (RFC 8707, registered resource servers) a metadata-document client may ask tokens for, comma-separated; empty: none (sign-in only).'),
    scopes: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_SCOPES', 'openid,profile,email,offline_access', listOf(['openid', 'profile', 'email', 'offline_access']),
      'OpenID scopes a metadata document may list in its `scope`; a document asking for others is refused.'),
    maxBytes: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_MAX_BYTES', '5120', integer(512, 65_536),
      'Largest metadata document read; a longer one is refused (its `Content-Length`, or the bytes as they arrive).'),
    timeoutSeconds: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_TIMEOUT', '2s', duration,
      'Time allowed for fetching one metadata document, connection included (the library stops at 2.5 s in any case).'),
    cacheMinSeconds: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_CACHE_MIN', '30s', duration,
      'Shortest time a fetched document is kept, whatever its `Cache-Control: max-age` or `Expires` says (the default when it says nothing).'),
    cacheMaxSeconds: setting('GATEHOUSE_CLIENT_METADATA_DOCUMENT_CACHE_MAX', '1h', duration,
      'Longest time a fetched document is kept in each node\'s cache (at most 100 documents), so a changed or withdrawn document takes effect within it.'),
  },
  testing: {
    outboundResolve: setting('GATEHOUSE_TEST_OUTBOUND_RESOLVE', undefined, resolveOverrides,
      'Tests only, refused in production: fixed answers for host names fetched as metadata documents (`name=address,…`, like curl --resolve). A loopback answer is let through the address guard; any other answer is still checked.'),
    outboundCaFile: setting('GATEHOUSE_TEST_OUTBOUND_CA_FILE', undefined, text,
      'Tests only, refused in production: a PEM CA also trusted when fetching metadata documents (a test CA for a local TLS server).'),
  },
  registration: {
    mode: setting('GATEHOUSE_REGISTRATION', 'token', z.enum(['token', 'open', 'off']),
      'Dynamic client registration at `/reg` (RFC 7591, managed per RFC 7592): `token` requires an initial access token (`gatehouse iat create`), `open` lets anyone register under the baseline policy, `off` removes the endpoint.'),
    openPolicy: setting('GATEHOUSE_REGISTRATION_OPEN_POLICY', undefined, z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a policy name'),
      'With `GATEHOUSE_REGISTRATION=open`: the registration policy (`gatehouse policies set`) that registrations without an initial access token answer to, e.g. an `agents` policy with `--resources`, `--expire-unused` and `--max-clients-per-software` (docs/mcp.md). Unset: the baseline policy.'),
    softwareStatementIssuers: {
      inline: setting('GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS', undefined, issuerKeysInline,
        'Trusted software-statement issuers (RFC 7591 §2.3) and their public keys, as JSON: `{"<iss>": {"keys": [<JWK>, …]}}`. Unset (and no `_FILE`): software statements are refused.'),
      file: setting('GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE', undefined, issuerKeysFile,
        'Path of a JSON file of the same shape as `GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS`.'),
    },
  },
} satisfies SettingGroup;
