/**
 * Start-up in one function: config → database → migrations → master key →
 * services → keys → provider → listener. The process entry (main.ts) and the
 * integration tests both call it, so tests boot exactly what production runs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Logger } from 'pino';

import { buildProvider, ProviderHandle } from './app.js';
import { scheduleCleanup } from './artifacts/cleanup.js';
import type { Config } from './config.js';
import { openDb, type Db } from './db/index.js';
import { migrate, pendingMigrations } from './db/migrate.js';
import { createCsrf } from './interactions/csrf.js';
import { createViews } from './interactions/views.js';
import { watchKeys, type KeyWatcher } from './keys/watcher.js';
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
    const services = createServices(db, config, secrets, {
      onKeyEvent: (event) => log.info({ event: event.type, kid: event.kid, alg: event.alg, ...event.detail }, 'signing key event'),
    });
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

    const server = createServer(handle.callback);
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

    return {
      url,
      issuer: config.issuer,
      server,
      handle,
      keys: keyWatcher,
      db,
      services,
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
        await db.close();
      },
    };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}
