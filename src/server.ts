/**
 * Server start-up: the core (src/core.ts: database, migrations, master key,
 * audit trail, services) → keys → provider → listeners. The process entry
 * (main.ts) and the integration tests both call it, so tests boot exactly
 * what production runs.
 */
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';

import type { Logger } from 'pino';

import { buildProvider, ProviderHandle } from './http/app.js';
import { scheduleCleanup } from './artifacts/cleanup.js';
import type { AuditLog } from './audit/log.js';
import { createAuditReader } from './audit/reader.js';
import type { Config } from './config/index.js';
import type { Db } from './db/index.js';
import { pendingMigrations } from './db/migrate.js';
import { createCsrf } from './interactions/csrf.js';
import { createViews } from './http/views.js';
import { watchKeys, type KeyWatcher } from './keys/watcher.js';
import { startListeners, type Listeners } from './http/listeners.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { startMetricsListener, type MetricsListener } from './observability/metrics-route.js';
import { createTrustStore } from './oidc/mtls.js';
import { startLogoutWorker } from './oidc/backchannel-logout.js';
import { createSmtpTransport } from './mail/transport.js';
import { startMailWorker, type MailWorker } from './mail/worker.js';
import { createCertificateSource } from './http/client-certificate.js';
import { createClientAddress } from './http/client-ip.js';
import { createRateLimits } from './http/rate-limit.js';
import { openCore } from './core.js';
import { system } from './audit/events.js';
import { consoleClient, consoleClientId, consoleClientMetadata } from './console/built-in-client.js';
import { adminSocketPath } from './cli/socket-client.js';
import { serveAdminSocket, type AdminSocket } from './cli/socket-server.js';
import type { Services } from './services.js';

export interface Gatehouse {
  url: string;
  issuer: string;
  server: Server;
  /** The mutual-TLS listener's own URL, when it runs. */
  mtlsUrl: string | undefined;
  /** The separate admin listener's URL (GATEHOUSE_ADMIN_PORT), when it runs. */
  adminUrl: string | undefined;
  handle: ProviderHandle;
  keys: KeyWatcher;
  db: Db;
  services: Services;
  metrics: Metrics;
  /** The audit log behind services.audit (flush it to read what was just recorded). */
  audit: AuditLog;
  /** The separate metrics listener, when GATEHOUSE_METRICS_PORT is set. */
  metricsUrl: string | undefined;
  /** The outbox's worker on this node, when GATEHOUSE_SMTP_URL is set. */
  mailWorker: MailWorker | undefined;
  close(): Promise<void>;
}

export async function startGatehouse(config: Config, log: Logger): Promise<Gatehouse> {
  const metrics = createMetrics();
  const core = await openCore(config, log, {
    auditHooks: {
      onEvent: metrics.observeAudit,
      onWritten: metrics.auditWritten,
      onDropped: metrics.auditDropped,
      onFlushFailed: metrics.auditFlushFailed,
      onAlert: metrics.alertRaised,
      onDelivery: metrics.alertDelivery,
    },
  });
  if (core.masterKey.source === 'generated') {
    log.warn({ path: core.masterKey.generatedPath }, 'DEVELOPMENT MASTER KEY in use: generated into the data directory. Set GATEHOUSE_MASTER_KEY (or _FILE) for anything but local development.');
  }
  if (core.rotatingMasterKey) log.warn('master-secret rotation in progress: the previous secret is accepted for decryption; run `gatehouse keys rewrap`, then remove GATEHOUSE_MASTER_KEY_PREVIOUS');
  const { db, services, secrets } = core;
  let opened: Listeners | undefined;
  try {
    metrics.setSources({
      auditQueueDepth: () => core.audit.depth,
      poolStats: () => db.poolStats?.(),
      keyStatus: () => services.keystore.status(),
    });
    const rateLimits = createRateLimits(core.counters, config.rateLimits, (error) => log.warn({ err: error }, 'counting a failed client authentication failed'));
    await services.keystore.ensureActiveKeys();
    // The console's built-in client follows the issuer (its redirect URI); a no-op when nothing changed.
    await services.clients.ensureBuiltIn(system, consoleClientId, consoleClient(config.issuer), consoleClientMetadata);
    const keys = await services.keystore.load();

    let draining = false;
    let handle: ProviderHandle | undefined;
    // Listening before the provider exists lets an ephemeral mTLS port be advertised in discovery;
    // the moment in between answers 503, like a node that is not ready.
    const listeners = await startListeners(
      config,
      (req, res) => {
        // While draining, answer what arrives on kept-alive sockets and close them, so shutdown does not wait for clients to go idle.
        if (draining) res.setHeader('Connection', 'close');
        if (handle) return handle.callback(req, res);
        res.statusCode = 503;
        res.end();
      },
      log,
    );
    opened = listeners;
    const clientAddress = createClientAddress(config.trustedProxies);
    const mtlsEnabled = listeners.mtls !== undefined || config.mtls.proxyHeader !== undefined;
    const mtls = mtlsEnabled
      ? {
          source: createCertificateSource({
            proxyHeader: config.mtls.proxyHeader,
            isTrustedProxy: clientAddress.isTrusted,
            onUntrustedHeader: (peer: string) => {
              metrics.certificateHeaderRejected();
              log.warn({ peer, header: config.mtls.proxyHeader }, 'client certificate header from an untrusted peer ignored');
            },
          }),
          trust: createTrustStore(config.mtls.caFile ? await readFile(config.mtls.caFile, 'utf8') : undefined),
          origin: config.mtls.origin ?? `https://localhost:${new URL(listeners.mtlsUrl!).port}`,
        }
      : undefined;
    const deps = {
      config,
      log,
      services,
      views: createViews(),
      csrf: createCsrf(secrets.deriveKeys('csrf')),
      // Derived, not stored: every node computes the same keys, a provider swap
      // keeps every cookie valid, and during a master-secret rotation cookies
      // signed under the previous secret still verify.
      cookieKeys: secrets.deriveKeys('cookie-signing').map((k) => k.toString('base64url')),
      dpopNonceSecret: secrets.deriveKey('dpop-nonce'),
      readiness: async () => {
        const failed: string[] = [];
        if (draining) failed.push('shutting_down');
        if (!(await db.ping())) failed.push('database');
        else if ((await pendingMigrations(db)) > 0) failed.push('migrations');
        return failed;
      },
      clientAddress,
      rateLimits,
      metrics,
      mtls,
      auditReader: createAuditReader(db, secrets),
      adminUrl: listeners.adminUrl,
      selfUrl: () => listeners.url,
    };
    handle = new ProviderHandle(buildProvider(deps, keys));
    const current = handle;
    const keyWatcher = await watchKeys({
      db,
      keystore: services.keystore,
      initial: keys,
      checkIntervalSeconds: config.keys.checkIntervalSeconds,
      log,
      onChange: (next) => current.swap(buildProvider(deps, next)),
    });
    const logoutWorker = await startLogoutWorker({
      db,
      queue: services.sessions.logouts,
      provider: () => current.current,
      log,
      settings: config.backchannelLogout,
      onOutcome: metrics.backchannelLogout,
    });
    const { smtpUrl, from } = config.mail;
    const mailWorker = smtpUrl && from
      ? await startMailWorker({ db, outbox: services.mail.outbox, transport: createSmtpTransport({ smtpUrl, from, requireTls: config.mail.requireTls }), log, settings: config.mail })
      : undefined;
    const stopCleanup = scheduleCleanup(db, [services.artifacts, services.replay, services.setup, services.adminIdempotency, services.mail, services.invitations, services.notices, services.unusedClients, services.rollups, services.consoleSessions, services.sessions.logouts], config.cleanupIntervalSeconds, log);

    const metricsListener: MetricsListener | undefined = config.metrics.port !== undefined
      ? await startMetricsListener(metrics.registry, { host: config.metrics.host, port: config.metrics.port, token: config.metrics.token })
      : undefined;

    // The embedded database serves this process only: the CLI reaches it through this socket (issue 14 §3).
    const adminSocket: AdminSocket | undefined =
      db.kind === 'embedded' ? await serveAdminSocket(adminSocketPath(config.dataDir), { config, log, db, services, schema: core.schema, secrets }, log) : undefined;
    if (listeners.adminUrl) log.info({ listening: listeners.adminUrl, serves: '/admin/v1' }, `admin API listening on ${listeners.adminUrl}/admin/v1 (not on the main listener)`);
    if (listeners.mtlsUrl) log.info({ listening: listeners.mtlsUrl, advertised: mtls?.origin }, `mTLS endpoint aliases listening on ${listeners.mtlsUrl}`);
    return {
      url: listeners.url,
      issuer: config.issuer,
      server: listeners.main,
      mtlsUrl: listeners.mtlsUrl,
      adminUrl: listeners.adminUrl,
      handle: current,
      keys: keyWatcher,
      db,
      services,
      metrics,
      audit: core.audit,
      metricsUrl: metricsListener?.url,
      mailWorker,
      async close() {
        draining = true;
        stopCleanup();
        await keyWatcher.stop();
        // In-flight requests get a bounded time to finish before their sockets are cut.
        await listeners.close(10_000);
        await logoutWorker.stop();
        await services.passwordRecovery.idle();
        await services.signups.idle();
        await mailWorker?.stop();
        await metricsListener?.close();
        await adminSocket?.close();
        await rateLimits.close();
        // Every request has finished, so every event it recorded is queued: the core writes them all.
        await core.close();
      },
    };
  } catch (error) {
    await opened?.close(0);
    await core.close().catch(() => undefined);
    throw error;
  }
}
