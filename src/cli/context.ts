/**
 * What every CLI action works with: the core (src/core.ts), opened once per
 * invocation exactly as the server opens it, and closed when the action
 * ends, whatever happens. Configuration comes from the run's environment
 * (src/cli/io.ts), never from the process's own when run in-process.
 */
import { loadConfig, type Config } from '../config/index.js';
import { DatabaseUnavailableError, openCore, type Core } from '../core.js';
import type { Migration } from '../db/migrate.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { CliError } from './errors.js';
import { currentRun, type CliContext } from './io.js';

export type { CliContext };
import { note } from './output.js';

export interface ContextOptions {
  /** Called before each pending migration is applied; by default a note on stderr. */
  onMigration?: (migration: Migration) => void;
}

export const migrationLabel = (m: Migration) => `${String(m.version).padStart(4, '0')}_${m.name}`;

/**
 * The server logs at info; an operator command stays quiet unless asked
 * (GATEHOUSE_LOG_LEVEL, or --verbose for info). Security alerts an action
 * raises go to the webhook and the audit trail, not onto the terminal that
 * ran it: their lines show only when asked for (issue 22, item 16).
 */
function cliLoggers(config: Config, env: NodeJS.ProcessEnv, verbose: boolean, stderr: NodeJS.WritableStream): { log: Logger; alertLog: Logger } {
  const level = env.GATEHOUSE_LOG_LEVEL ? config.logLevel : verbose ? 'info' : 'warn';
  const log = createLogger(level, stderr);
  return { log, alertLog: verbose || env.GATEHOUSE_LOG_LEVEL ? log : createLogger('silent') };
}

export async function withContext<T>(action: (context: CliContext) => Promise<T>, options: ContextOptions = {}): Promise<T> {
  const { io, verbose } = currentRun();
  // Through the running server's admin socket: its core is already open, and stays so.
  if (io.provided) return action(io.provided);
  const config = loadConfig(io.env);
  const { log, alertLog } = cliLoggers(config, io.env, verbose, io.stderr);
  let core: Core;
  try {
    core = await openCore(config, log, { alertLog, onMigration: options.onMigration ?? ((m) => note(`applying migration ${migrationLabel(m)}`)) });
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) throw new CliError(error.message, 1, { cause: error });
    throw error;
  }
  try {
    if (core.masterKey.source === 'generated') {
      log.info({ path: core.masterKey.generatedPath }, 'development master key in use');
      // A fresh database is when an operator is most likely to be setting up
      // for real; secrets sealed now only open under this generated key.
      if (core.schema.applied.length > 0) {
        note(`using the development master key in ${core.masterKey.generatedPath}; set GATEHOUSE_MASTER_KEY (or _FILE) for anything but local development`);
      }
    }
    if (core.rotatingMasterKey) log.info('master-secret rotation in progress: the previous secret is accepted for decryption');
    return await action({ config, log, db: core.db, services: core.services, schema: core.schema, secrets: core.secrets });
  } finally {
    await core.close();
  }
}
