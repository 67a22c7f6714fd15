/**
 * Start-up in one function: config → database → migrations → master key →
 * services → keys → provider → listener. The process entry (main.ts) and the
 * integration tests both call it, so tests boot exactly what production runs.
 */
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';

import type { Logger } from 'pino';

import { buildProvider, ProviderHandle } from './http/app.js';
import { scheduleCleanup } from './artifacts/cleanup.js';
import type { AuditLog } from './audit/log.js';
import { openAuditTrail } from './audit/trail.js';
import type { Config } from './config/index.js';
import { openDb, type Db } from './db/index.js';
import { migrate, pendingMigrations } from './db/migrate.js';
import { createCsrf } from './interactions/csrf.js';
import { createViews } from './http/views.js';
import { watchKeys, type KeyWatcher } from './keys/watcher.js';
import { startListeners, type Listeners } from './http/listeners.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { startMetricsListener, type MetricsListener } from './observability/metrics-route.js';
import { createTrustStore } from './oidc/mtls.js';
import { createCertificateSource } from './http/client-certificate.js';
import { createClientAddress } from './http/client-ip.js';
import { createRateLimits } from './http/rate-limit.js';
import { createLimiterFactory } from './db/counters.js';
import { loadMasterKey, loadPreviousMasterKeys } from './crypto/master-key.js';
import { createSecretBox } from './crypto/secret-box.js';
import { createServices, type Services } from './services.js';

export interface Gatehouse {
  url: string;
  issuer: string;
  server: Server;
  /** The mutual-TLS listener's own URL, when it runs. */
  mtlsUrl: string | undefined;
  handle: ProviderHandle;
  keys: KeyWatcher;
  db: Db;
  services: Services;
  metrics: Metrics;
  /** The audit log behind services.audit (flush it to read what was just recorded). */
  audit: AuditLog;
  /** The separate metrics listener, when GATEHOUSE_METRICS_PORT is set. */
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

export async function startGatehouse(config: Config, log: Logger): Promise<Gatehouse> {
  const masterKey = await loadMasterKey(config);
  if (masterKey.source === 'generated') {
    log.warn({ path: masterKey.generatedPath }, 'DEVELOPMENT MASTER KEY in use: generated into the data directory. Set GATEHOUSE_MASTER_KEY (or _FILE) for anything but local development.');
  }
  const db = await openDb(config, log);
  let opened: Listeners | undefined;
  try {
    log.info({ database: db.kind === 'embedded' ? `embedded (${config.dataDir})` : 'postgresql' }, 'database opened');
    const report = await migrate(db, { onApply: (m) => log.info({ version: m.version, name: m.name }, 'applying migration') });
    log.info({ applied: report.applied.length, schemaVersion: report.current }, 'database schema is current');

    const previousMasterKeys = await loadPreviousMasterKeys(config);
    if (previousMasterKeys.length) log.warn('master-secret rotation in progress: the previous secret is accepted for decryption; run `gatehouse keys rewrap`, then remove GATEHOUSE_MASTER_KEY_PREVIOUS');
    const secrets = createSecretBox(masterKey.secret, previousMasterKeys);
    const metrics = createMetrics();
    const counters = createLimiterFactory(db);
    const trail = openAuditTrail({
      db,
      chainKey: secrets.deriveKey('audit-chain'),
      log,
      counters,
      alerts: config.alerts,
      issuer: config.issuer,
      hooks: {
        onEvent: metrics.observeAudit,
        onWritten: metrics.auditWritten,
        onDropped: metrics.auditDropped,
        onFlushFailed: metrics.auditFlushFailed,
        onAlert: metrics.alertRaised,
        onDelivery: metrics.alertDelivery,
      },
    });
    const services = createServices(db, config, secrets, {
      audit: trail.audit,
      onKeyEvent: (event) => {
        log.info({ event: event.type, kid: event.kid, alg: event.alg, ...event.detail }, 'signing key event');
        trail.audit.record({ type: `key.${event.type}`, outcome: 'success', actor: 'system', subject: event.kid, detail: { alg: event.alg, ...event.detail } });
      },
    });
    metrics.setSources({
      auditQueueDepth: () => trail.audit.depth,
      poolStats: () => db.poolStats?.(),
      keyStatus: () => services.keystore.status(),
    });
    const rateLimits = createRateLimits(counters, config.rateLimits);
    // The named in-process caches (invariant 2) cache only while they listen for invalidations.
    const caches = [services.clients.cache, services.resources.cache];
    for (const cache of caches) await cache.start();
    await services.keystore.ensureActiveKeys();
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
    const stopCleanup = scheduleCleanup(db, [services.artifacts, services.replay], config.cleanupIntervalSeconds, log);

    const metricsListener: MetricsListener | undefined = config.metrics.port !== undefined
      ? await startMetricsListener(metrics.registry, { host: config.metrics.host, port: config.metrics.port, token: config.metrics.token })
      : undefined;

    if (listeners.mtlsUrl) log.info({ listening: listeners.mtlsUrl, advertised: mtls?.origin }, `mTLS endpoint aliases listening on ${listeners.mtlsUrl}`);
    return {
      url: listeners.url,
      issuer: config.issuer,
      server: listeners.main,
      mtlsUrl: listeners.mtlsUrl,
      handle: current,
      keys: keyWatcher,
      db,
      services,
      metrics,
      audit: trail.audit,
      metricsUrl: metricsListener?.url,
      async close() {
        draining = true;
        stopCleanup();
        await keyWatcher.stop();
        // In-flight requests get a bounded time to finish before their sockets are cut.
        await listeners.close(10_000);
        await metricsListener?.close();
        // Every request has finished, so every event it recorded is queued: write them all.
        await trail.close();
        await rateLimits.close();
        for (const cache of caches) await cache.stop();
        await db.close();
      },
    };
  } catch (error) {
    await opened?.close(0);
    await db.close().catch(() => undefined);
    throw error;
  }
}
