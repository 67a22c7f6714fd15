/**
 * The composition root (DESIGN "One composition root"): config → master key →
 * database → migrations → secret box → audit trail → services → caches. The
 * server (server.ts), the CLI (cli/context.ts), the test helpers and the
 * benchmark all open the same core, so they cannot drift apart: what a test
 * boots is what production runs, and an operator's command is audited and
 * alerted on exactly like a request.
 */
import type { Logger } from 'pino';

import type { AuditLog } from './audit/log.js';
import { openAuditTrail, type AuditTrailHooks } from './audit/trail.js';
import type { Config } from './config/index.js';
import { loadMasterKey, loadPreviousMasterKeys, type MasterKey } from './crypto/master-key.js';
import { createSecretBox, type SecretBox } from './crypto/secret-box.js';
import { createLimiterFactory, type LimiterFactory } from './db/counters.js';
import { openDb, type Db } from './db/index.js';
import { migrate, MigrationError, type Migration, type MigrationReport } from './db/migrate.js';
import { createRollups, type Rollups } from './rollups/rollups.js';
import { createServices, type Services } from './services.js';

export interface Core {
  config: Config;
  db: Db;
  secrets: SecretBox;
  /** The shared counter store (rate limits, alert thresholds). */
  counters: LimiterFactory;
  services: Services;
  /** The audit log behind services.audit (flush it to read what was just recorded). */
  audit: AuditLog;
  /** What migrating did on the way in. */
  schema: MigrationReport;
  /** Where the master secret came from, never its value; `generated` is the development key. */
  masterKey: Pick<MasterKey, 'source' | 'generatedPath'>;
  /** True while a previous master secret is accepted for decryption (a rotation in progress). */
  rotatingMasterKey: boolean;
  /** Drains the audit trail, stops the caches and closes the database. */
  close(): Promise<void>;
}

export interface CoreOptions {
  /** Called before each pending migration is applied; by default an info log line. */
  onMigration?: (migration: Migration) => void;
  /** Metrics hooks on the audit trail (the server's). */
  auditHooks?: AuditTrailHooks;
  /**
   * Where "security alert" lines are logged; by default `log`. The CLI passes a
   * silent logger unless asked to be verbose: alerts reach the webhook either
   * way, and the operator's terminal shows the command's result.
   */
  alertLog?: Logger;
}

/** The database could not be reached or read: the first statement is where that shows. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/** Node reports a refused connection to a dual-stack host as an AggregateError with an empty message. */
export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && !error.message) return [...new Set(error.errors.map(messageOf))].join('; ');
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

export async function openCore(config: Config, log: Logger, options: CoreOptions = {}): Promise<Core> {
  const masterKey = await loadMasterKey(config);
  // During a master-secret rotation the previous secret still opens what it sealed.
  const previousMasterKeys = await loadPreviousMasterKeys(config);
  const db = await openDb(config, log);
  try {
    log.info({ database: db.kind === 'embedded' ? `embedded (${config.dataDir})` : 'postgresql' }, 'database opened');
    const schema = await migrate(db, {
      onApply: options.onMigration ?? ((m) => log.info({ version: m.version, name: m.name }, 'applying migration')),
    }).catch((error: unknown) => {
      if (error instanceof MigrationError) throw error;
      throw new DatabaseUnavailableError(`database (${db.kind}): ${messageOf(error)}`, { cause: error });
    });
    log.info({ applied: schema.applied.length, schemaVersion: schema.current }, 'database schema is current');

    const secrets = createSecretBox(masterKey.secret, previousMasterKeys);
    const counters = createLimiterFactory(db);
    const rollups: Rollups = createRollups({ db, log, flushIntervalSeconds: config.stats.flushIntervalSeconds, retentionSeconds: config.stats.retentionSeconds });
    const hooks = options.auditHooks ?? {};
    const trail = openAuditTrail({
      db,
      chainKey: secrets.deriveKey('audit-chain'),
      log,
      ...(options.alertLog ? { alertLog: options.alertLog } : {}),
      counters,
      alerts: config.alerts,
      issuer: config.issuer,
      hooks: {
        ...hooks,
        onAlert: (rule) => {
          rollups.count('alerts_raised', rule);
          hooks.onAlert?.(rule);
        },
      },
    });
    trail.audit.subscribe(rollups.observe);
    const services = createServices(db, config, secrets, trail.audit, counters, rollups);
    // The named in-process caches (invariant 2) cache only while they listen for invalidations.
    const caches = [services.clients.cache, services.resources.cache, services.rbac.permissions.cache, services.accessTokenRevocations.cache, services.sessions.cache];
    try {
      for (const cache of caches) await cache.start();
    } catch (error) {
      await trail.close();
      await rollups.close();
      throw error;
    }
    return {
      config,
      db,
      secrets,
      counters,
      services,
      audit: trail.audit,
      schema,
      masterKey: { source: masterKey.source, ...(masterKey.generatedPath ? { generatedPath: masterKey.generatedPath } : {}) },
      rotatingMasterKey: previousMasterKeys.length > 0,
      async close() {
        try {
          // Every event recorded so far is queued: write them all before the database goes.
          await trail.close();
          // After the trail: its last events and alerts are counted too.
          await rollups.close();
          for (const cache of caches) await cache.stop();
        } finally {
          await db.close().catch((error: unknown) => log.warn({ err: error }, 'closing the database failed'));
        }
      },
    };
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}
