/**
 * What every CLI action works with, opened once per invocation the same way
 * start-up does (src/server.ts): config → master key → database → migrations →
 * services. The database is closed when the action ends, whatever happens.
 */
import { loadConfig, type Config } from '../config/index.js';
import { openDb, type Db } from '../db/index.js';
import { migrate, MigrationError, type Migration, type MigrationReport } from '../db/migrate.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { loadMasterKey, loadPreviousMasterKeys } from '../crypto/master-key.js';
import { createSecretBox, type SecretBox } from '../crypto/secret-box.js';
import { openAuditTrail } from '../audit/trail.js';
import { createLimiterFactory } from '../db/counters.js';
import { createServices, type Services } from '../services.js';
import { CliError, messageOf } from './errors.js';
import { note } from './output.js';

export interface CliContext {
  config: Config;
  log: Logger;
  db: Db;
  services: Services;
  schema: MigrationReport;
  /** For commands that check what the master secret protects (`audit verify`). */
  secrets: SecretBox;
}

export interface ContextOptions {
  /** Called before each pending migration is applied; by default a note on stderr. */
  onMigration?: (migration: Migration) => void;
}

/**
 * Admin actions are audited (DESIGN invariant 5) with the operator as actor.
 * Never pass a secret in `detail`.
 */
export function auditOperator({ services }: Pick<CliContext, 'services'>, type: string, subject: string, detail?: Record<string, unknown>): void {
  services.audit.record({ type, outcome: 'success', actor: 'operator', subject, ...(detail ? { detail } : {}) });
}

export const migrationLabel = (m: Migration) => `${String(m.version).padStart(4, '0')}_${m.name}`;

/** The server logs at info; an operator command stays quiet unless asked (GATEHOUSE_LOG_LEVEL). */
function cliLogger(config: Config, env: NodeJS.ProcessEnv): Logger {
  return createLogger(env.GATEHOUSE_LOG_LEVEL ? config.logLevel : 'warn', process.stderr);
}

export async function withContext<T>(action: (context: CliContext) => Promise<T>, options: ContextOptions = {}): Promise<T> {
  const config = loadConfig(process.env);
  const log = cliLogger(config, process.env);
  const masterKey = await loadMasterKey(config);
  // As at start-up: during a master-secret rotation the previous secret still opens what it sealed.
  const previousMasterKeys = await loadPreviousMasterKeys(config);
  const db = await openDb(config, log);
  try {
    // The first statement is where an unreachable or misconfigured database shows.
    const schema = await migrate(db, {
      onApply: options.onMigration ?? ((m) => note(`applying migration ${migrationLabel(m)}`)),
    }).catch((error: unknown) => {
      if (error instanceof MigrationError) throw error;
      throw new CliError(`database (${db.kind}): ${messageOf(error)}`, 1, { cause: error });
    });
    if (masterKey.source === 'generated') {
      log.info({ path: masterKey.generatedPath }, 'development master key in use');
      // A fresh database is when an operator is most likely to be setting up
      // for real; secrets sealed now only open under this generated key.
      if (schema.applied.length > 0) {
        note(`using the development master key in ${masterKey.generatedPath}; set GATEHOUSE_MASTER_KEY (or _FILE) for anything but local development`);
      }
    }
    if (previousMasterKeys.length) log.info('master-secret rotation in progress: the previous secret is accepted for decryption');
    const secrets = createSecretBox(masterKey.secret, previousMasterKeys);
    // Operator actions go into the same hash chain (and alert rules) as the server's events;
    // the trail is drained before the database closes.
    const trail = openAuditTrail({ db, chainKey: secrets.deriveKey('audit-chain'), log, counters: createLimiterFactory(db), alerts: config.alerts, issuer: config.issuer });
    // Key commands record their own operator events (auditOperator), so key lifecycle hooks are not wired here.
    const services = createServices(db, config, secrets, { audit: trail.audit });
    try {
      return await action({ config, log, db, services, schema, secrets });
    } finally {
      await trail.close();
    }
  } finally {
    await db.close().catch((error: unknown) => log.warn({ err: error }, 'closing the database failed'));
  }
}
