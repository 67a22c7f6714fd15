/**
 * Start-up in one function: config → database → migrations → master key →
 * services → keys → provider → listener. The process entry (main.ts) and the
 * integration tests both call it, so tests boot exactly what production runs.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import type { Logger } from 'pino';

import { buildProvider, ProviderHandle } from './app.js';
import { scheduleCleanup } from './artifacts/cleanup.js';
import type { AuditLog } from './audit/log.js';
import { openAuditTrail } from './audit/trail.js';
import type { Config } from './config.js';
import { openDb, type Db } from './db/index.js';
import { migrate, pendingMigrations } from './db/migrate.js';
import { createCsrf } from './interactions/csrf.js';
import { createViews } from './interactions/views.js';
import { watchKeys, type KeyWatcher } from './keys/watcher.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { startMetricsListener, type MetricsListener } from './observability/metrics-route.js';
import { createClientAddress } from './security/client-ip.js';
import { createRateLimits } from './security/rate-limit.js';
import { createLimiterFactory } from './security/rate-limit-store.js';
import { loadMasterKey, loadPreviousMasterKeys } from './security/master-key.js';
import { createSecretBox } from './security/secret-box.js';
import { createServices, type Services } from './services.js';

export interface Gatehouse {
  url: string;
  issuer: string;
  server: Server;
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
    await services.keystore.ensureActiveKeys();
    const keys = await services.keystore.load();

    let draining = false;
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
      readiness: async () => {
        const failed: string[] = [];
        if (draining) failed.push('shutting_down');
        if (!(await db.ping())) failed.push('database');
        else if ((await pendingMigrations(db)) > 0) failed.push('migrations');
        return failed;
      },
      clientAddress: createClientAddress(config.trustedProxies),
      rateLimits,
      metrics,
    };
    const handle = new ProviderHandle(buildProvider(deps, keys));
    const keyWatcher = await watchKeys({
      db,
      keystore: services.keystore,
      initial: keys,
      checkIntervalSeconds: config.keys.checkIntervalSeconds,
      log,
      onChange: (next) => handle.swap(buildProvider(deps, next)),
    });
    const stopCleanup = scheduleCleanup(db, services.artifacts, config.cleanupIntervalSeconds, log);

    const server = createServer((req, res) => {
      // While draining, answer what arrives on kept-alive sockets and close them, so shutdown does not wait for clients to go idle.
      if (draining) res.setHeader('Connection', 'close');
      handle.callback(req, res);
    });
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 30_000;
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerMalformed(error, socket, log));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const metricsListener: MetricsListener | undefined = config.metrics.port !== undefined
      ? await startMetricsListener(metrics.registry, { host: config.metrics.host, port: config.metrics.port, token: config.metrics.token })
      : undefined;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

    return {
      url,
      issuer: config.issuer,
      server,
      handle,
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
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // In-flight requests get a bounded time to finish before their sockets are cut.
          setTimeout(() => server.closeAllConnections(), 10_000).unref();
        });
        await metricsListener?.close();
        // Every request has finished, so every event it recorded is queued: write them all.
        await trail.close();
        await rateLimits.close();
        await db.close();
      },
    };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Requests Node's HTTP parser rejects never reach koa; they still get a
 * request id that is in the log, and a plain JSON error.
 */
function answerMalformed(error: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const requestId = randomUUID();
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  log.warn({ requestId, parserError: error.code, status: tooLarge ? 431 : 400 }, 'malformed HTTP request');
  const body = JSON.stringify({ error: 'invalid_request', error_description: tooLarge ? 'The request headers are too large.' : 'The request is not valid HTTP.' });
  socket.end(
    `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `Cache-Control: no-store\r\nX-Request-Id: ${requestId}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
