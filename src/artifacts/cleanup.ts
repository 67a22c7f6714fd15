import type { Logger } from 'pino';

import { advisoryLocks, type Db } from '../db/index.js';
import type { ArtifactStore } from './store.js';

const batchSize = 1000;

/** Deletes expired rows in batches; only the node holding the lock runs a pass, the others skip it. */
export async function removeExpiredArtifacts(db: Db, artifacts: ArtifactStore): Promise<number | undefined> {
  const result = await db.withAdvisoryLock(advisoryLocks.expiredRowCleanup, async () => {
    let total = 0;
    for (;;) {
      const removed = await artifacts.deleteExpired(batchSize);
      total += removed;
      if (removed < batchSize) return total;
    }
  }, { wait: false });
  return result.acquired ? result.value : undefined;
}

export function scheduleCleanup(db: Db, artifacts: ArtifactStore, intervalSeconds: number, log: Logger): () => void {
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
