import type { Logger } from 'pino';

import { advisoryLocks, type Db } from '../db/index.js';

const batchSize = 1000;

/** A table whose rows expire: protocol artifacts, proof replay records. */
export interface Expiring {
  deleteExpired(batchSize: number): Promise<number>;
}

/** Deletes expired rows in batches; only the node holding the lock runs a pass, the others skip it. */
export async function removeExpiredArtifacts(db: Db, tables: Expiring | Expiring[]): Promise<number | undefined> {
  const result = await db.withAdvisoryLock(advisoryLocks.expiredRowCleanup, async () => {
    let total = 0;
    for (const table of Array.isArray(tables) ? tables : [tables]) {
      for (;;) {
        const removed = await table.deleteExpired(batchSize);
        total += removed;
        if (removed < batchSize) break;
      }
    }
    return total;
  }, { wait: false });
  return result.acquired ? result.value : undefined;
}

export function scheduleCleanup(db: Db, artifacts: Expiring | Expiring[], intervalSeconds: number, log: Logger): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    removeExpiredArtifacts(db, artifacts)
      .then((removed) => {
        if (removed) log.info({ removed }, 'expired protocol artifacts removed');
      })
      .catch((error: unknown) => log.warn({ err: error }, 'expired artifact cleanup failed'))
      .finally(() => {
        running = false;
      });
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
