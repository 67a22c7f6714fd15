import type { Logger } from 'pino';

import type { Config } from '../config.js';
import type { Db } from './db.js';
import { openEmbedded } from './embedded.js';
import { openPostgres } from './postgres.js';

export type { Db, Queryable } from './db.js';
export { advisoryLocks } from './db.js';

export async function openDb(config: Pick<Config, 'databaseUrl' | 'dbPoolMax' | 'dataDir'>, log: Logger): Promise<Db> {
  if (config.databaseUrl) return openPostgres(config.databaseUrl, { poolMax: config.dbPoolMax, log });
  return openEmbedded(config.dataDir);
}
