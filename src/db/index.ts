import type { Logger } from 'pino';

import type { Config } from '../config/index.js';
import type { Db } from './db.js';
import { openPostgres } from './postgres.js';

export type { Db, Queryable } from './db.js';
export { advisoryLocks } from './db.js';

export async function openDb(
  config: Pick<Config, 'databaseUrl' | 'dbPoolMax' | 'dataDir'> & Partial<Pick<Config, 'databaseDirectUrl' | 'databasePooler'>>,
  log: Logger,
): Promise<Db> {
  if (config.databaseUrl) {
    return openPostgres(config.databaseUrl, {
      poolMax: config.dbPoolMax,
      log,
      directUrl: config.databaseDirectUrl,
      prepareStatements: config.databasePooler !== 'transaction',
    });
  }
  // Loaded only when used: PGlite's module alone is ~7 MB of a PostgreSQL node's memory.
  const { openEmbedded } = await import('./embedded.js');
  return openEmbedded(config.dataDir);
}
