/**
 * Checks across settings: pairs that go together, orderings between
 * lifetimes, and what production refuses. Each problem names its variables so
 * one ConfigError lists everything an operator has to fix.
 */
import { isLoopbackHost } from './formats.js';
import type { Config, SettingValues } from './resolve.js';

/** Settings that only make sense together (`both`) or apart (`one`). */
function pairs(s: SettingValues, problems: string[]): void {
  const set = (value: unknown) => value !== undefined;
  if (set(s.masterKey.value) && set(s.masterKey.file)) problems.push('GATEHOUSE_MASTER_KEY and GATEHOUSE_MASTER_KEY_FILE: set one, not both');
  if (set(s.previousMasterKey.value) && set(s.previousMasterKey.file)) {
    problems.push('GATEHOUSE_MASTER_KEY_PREVIOUS and GATEHOUSE_MASTER_KEY_PREVIOUS_FILE: set one, not both');
  }
  if (set(s.registration.softwareStatementIssuers.inline) && set(s.registration.softwareStatementIssuers.file)) {
    problems.push('GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS and GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE: set one, not both');
  }
  if (set(s.tls.certFile) !== set(s.tls.keyFile)) problems.push('GATEHOUSE_TLS_CERT_FILE and GATEHOUSE_TLS_KEY_FILE: set both or neither');
  if (set(s.mtls.certFile) !== set(s.mtls.keyFile)) problems.push('GATEHOUSE_MTLS_CERT_FILE and GATEHOUSE_MTLS_KEY_FILE: set both or neither');
}

export function checkConsistency(s: SettingValues, config: Config, problems: string[]): void {
  pairs(s, problems);
  const issuer = new URL(config.issuer);
  if (issuer.search || issuer.hash) problems.push('GATEHOUSE_ISSUER: must not carry a query or fragment');
  // WebAuthn §5.1.3 step 8: the RP ID is the page's host or a suffix of it at a label boundary.
  const rpId = config.passkeys.rpId;
  if (issuer.hostname !== rpId && !issuer.hostname.endsWith(`.${rpId}`)) {
    problems.push(`GATEHOUSE_PASSKEY_RP_ID: must be the issuer's host name (${issuer.hostname}) or a suffix of it`);
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
  if (Boolean(config.mail.smtpUrl) !== Boolean(config.mail.from)) {
    problems.push('GATEHOUSE_SMTP_URL and GATEHOUSE_MAIL_FROM: set both or neither (every message needs a sender)');
  }
  if (config.signup.mode === 'open' && !config.mail.smtpUrl) {
    problems.push('GATEHOUSE_SIGNUP=open: needs GATEHOUSE_SMTP_URL (open sign-up answers every request with "check your email"; without mail nobody could finish)');
  }
  if (config.mail.resetTtlSeconds > 3600) {
    problems.push('GATEHOUSE_PASSWORD_RESET_TTL: at most 1h; a reset link is a credential sitting in a mailbox');
  }
  if (config.metrics.port && config.metrics.port === config.port) {
    problems.push('GATEHOUSE_METRICS_PORT: must differ from GATEHOUSE_PORT');
  }
  if (config.ttl.refreshToken < config.ttl.accessToken) {
    problems.push('GATEHOUSE_REFRESH_TOKEN_TTL: must not be shorter than GATEHOUSE_ACCESS_TOKEN_TTL');
  }
  if (config.mtls.proxyHeader && config.trustedProxies.length === 0) {
    problems.push('GATEHOUSE_MTLS_PROXY_HEADER: needs GATEHOUSE_TRUSTED_PROXIES, the only peers whose certificate header is believed');
  }
  if (config.mtls.proxyHeader && !config.mtls.origin) {
    problems.push('GATEHOUSE_MTLS_ORIGIN: required with GATEHOUSE_MTLS_PROXY_HEADER (the proxy\'s mTLS origin, advertised in discovery)');
  }
  if (config.databaseDirectUrl && !config.databaseUrl) {
    problems.push('GATEHOUSE_DATABASE_DIRECT_URL: only meaningful with DATABASE_URL (the embedded database has no pooler)');
  }
  if (config.databasePooler === 'transaction' && !config.databaseDirectUrl) {
    problems.push('GATEHOUSE_DATABASE_POOLER=transaction: set GATEHOUSE_DATABASE_DIRECT_URL to a direct connection; LISTEN and the advisory locks of one-node jobs need a session a transaction pooler does not keep');
  }
  if (config.profile === 'fapi2') {
    // FAPI 2.0 Security Profile: authorization codes live at most 60 s; signatures are PS256, ES256 or EdDSA only.
    if (config.ttl.authorizationCode > 60) problems.push('GATEHOUSE_AUTHORIZATION_CODE_TTL: GATEHOUSE_PROFILE=fapi2 allows at most 60s');
    if (config.keys.algorithms.includes('RS256')) problems.push('GATEHOUSE_SIGNING_ALGORITHMS: GATEHOUSE_PROFILE=fapi2 allows only PS256, ES256 and EdDSA (remove RS256)');
  }
  if (config.registration.openPolicy && config.registration.mode !== 'open') {
    problems.push('GATEHOUSE_REGISTRATION_OPEN_POLICY: only meaningful with GATEHOUSE_REGISTRATION=open (token registrations answer to their token\'s policy)');
  }
  const documents = config.clientMetadataDocuments;
  if (documents.cacheMinSeconds > documents.cacheMaxSeconds) {
    problems.push('GATEHOUSE_CLIENT_METADATA_DOCUMENT_CACHE_MIN: must not exceed GATEHOUSE_CLIENT_METADATA_DOCUMENT_CACHE_MAX');
  }
  if (config.env === 'production') checkProduction(config, problems);
}

/** Production refuses what is only safe on a developer's laptop (DESIGN invariant 4). */
function checkProduction(config: Config, problems: string[]): void {
  if (config.mtls.port !== undefined && !config.mtls.certFile) {
    problems.push('GATEHOUSE_MTLS_PORT: production requires GATEHOUSE_MTLS_CERT_FILE/KEY_FILE (or GATEHOUSE_TLS_*) for the mTLS listener; a generated development certificate is not for production');
  }
  if (config.mtls.port !== undefined && !config.mtls.origin) {
    problems.push('GATEHOUSE_MTLS_ORIGIN: production requires the public origin of the mTLS listener');
  }
  const issuer = new URL(config.issuer);
  if (config.federation.allowHttpLoopback) problems.push('GATEHOUSE_FEDERATION_ALLOW_HTTP_LOOPBACK: production reaches upstream identity providers over https only');
  if (issuer.protocol !== 'https:' && !isLoopbackHost(issuer.hostname)) {
    problems.push('GATEHOUSE_ISSUER: production requires an https issuer (tokens and cookies would travel in clear)');
  }
  if (!config.masterKey) {
    problems.push('GATEHOUSE_MASTER_KEY: production requires a master secret (or GATEHOUSE_MASTER_KEY_FILE); a generated one lives next to the data it protects');
  }
  if (config.backchannelLogout.allowLoopback) {
    problems.push('GATEHOUSE_BACKCHANNEL_LOGOUT_ALLOW_LOOPBACK: production refuses it; logout tokens go to relying parties on public addresses only (SSRF protection)');
  }
  // The address guard's test override must not exist in production (src/oidc/outbound-fetch.ts refuses it again).
  if (config.testing.outboundResolve) problems.push('GATEHOUSE_TEST_OUTBOUND_RESOLVE: a test-only override of the outbound address guard; production refuses it');
  if (config.testing.outboundCaFile) problems.push('GATEHOUSE_TEST_OUTBOUND_CA_FILE: a test-only trust anchor for outbound fetches; production refuses it');
  if (config.mail.smtpUrl && !config.mail.requireTls && !isLoopbackHost(new URL(config.mail.smtpUrl).hostname)) {
    problems.push('GATEHOUSE_SMTP_REQUIRE_TLS=false: production sends reset links only over TLS to a remote SMTP server (a relay on loopback may go without)');
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
