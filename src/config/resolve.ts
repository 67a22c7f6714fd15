/**
 * From the table's parsed values to the `Config` callers read: the few values
 * that depend on others (the issuer's default port, the mTLS listener's
 * fallbacks, secrets given inline or as a file) are resolved here. The type of
 * `Config` is this function's result, so no field is declared twice.
 */
import path from 'node:path';

import type { settingTable, ValuesOf } from './settings.js';

export type SettingValues = ValuesOf<typeof settingTable>;

/** A secret given in the environment itself or as the path of a mounted file. */
export type SecretSource = { value: string } | { file: string };

export function resolveConfig(s: SettingValues) {
  const issuer = (s.issuer ?? `http://localhost:${s.port}`).replace(/\/$/, '');
  return {
    ...s,
    issuer,
    trustedProxies: s.trustedProxies ?? [],
    tls: s.tls.certFile && s.tls.keyFile ? { certFile: path.resolve(s.tls.certFile), keyFile: path.resolve(s.tls.keyFile) } : undefined,
    mtls: {
      /** undefined: no mTLS listener (header mode may still be on). */
      port: s.mtls.port === 'off' ? undefined : s.mtls.port === 'auto' ? (s.env === 'development' ? 3443 : undefined) : s.mtls.port,
      host: s.mtls.host ?? s.host,
      origin: s.mtls.origin?.replace(/\/$/, ''),
      certFile: resolvePath(s.mtls.certFile ?? s.tls.certFile),
      keyFile: resolvePath(s.mtls.keyFile ?? s.tls.keyFile),
      caFile: resolvePath(s.mtls.caFile),
      proxyHeader: s.mtls.proxyHeader,
    },
    dataDir: path.resolve(s.dataDir),
    masterKey: secretSource(s.masterKey),
    previousMasterKey: secretSource(s.previousMasterKey),
    mfa: {
      required: s.mfa.required,
      // The host name without the port: a colon would split the otpauth label (Key Uri Format).
      totpIssuer: s.mfa.totpIssuer ?? new URL(issuer).hostname,
    },
    passkeys: {
      ...s.passkeys,
      rpId: s.passkeys.rpId ?? new URL(issuer).hostname,
      // WebAuthn compares the origin of the page (§7.1 step 9), not the issuer's path.
      origin: new URL(issuer).origin,
    },
    admin: {
      ...s.admin,
      requireBoundTokens: s.admin.requireBoundTokens === 'auto' ? s.env === 'production' : s.admin.requireBoundTokens === 'true',
    },
    mail: {
      ...s.mail,
      requireTls: s.mail.requireTls === 'auto' ? s.env === 'production' : s.mail.requireTls === 'true',
      /** Mail is on only with a server to send through. */
      enabled: s.mail.smtpUrl !== undefined,
    },
    registration: {
      mode: s.registration.mode,
      openPolicy: s.registration.openPolicy,
      softwareStatementIssuers: s.registration.softwareStatementIssuers.inline ?? s.registration.softwareStatementIssuers.file ?? {},
    },
  };
}

export type Config = ReturnType<typeof resolveConfig>;

/** Endpoint classes with their own rate-limit budgets. */
export type RateLimitClass = keyof Config['rateLimits']['budgets'];

export type Ttls = Config['ttl'];

function resolvePath(file: string | undefined): string | undefined {
  return file === undefined ? undefined : path.resolve(file);
}

function secretSource(source: { value: string | undefined; file: string | undefined }): SecretSource | undefined {
  if (source.value !== undefined) return { value: source.value };
  if (source.file !== undefined) return { file: path.resolve(source.file) };
  return undefined;
}
