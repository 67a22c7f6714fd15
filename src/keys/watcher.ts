import type { Logger } from 'pino';

import type { Db } from '../db/index.js';
import { keyChangeChannel, type Keystore, type KeySet } from './keystore.js';

/**
 * Keeps one node's key set current. It reloads on a NOTIFY from any node, at
 * the exact instant the current set expires (a scheduled activation, so every
 * node switches together even if a notification is lost), and on a periodic
 * check. Each tick also offers to run the rotation schedule; only the node
 * that takes the lock runs it.
 */
export interface KeyWatcher {
  current(): KeySet;
  /** Reloads now; resolves once any change has been handed to onChange. */
  refresh(reason: string): Promise<void>;
  stop(): Promise<void>;
}

export async function watchKeys(options: {
  db: Db;
  keystore: Keystore;
  initial: KeySet;
  checkIntervalSeconds: number;
  log: Logger;
  onChange: (keys: KeySet, previous: KeySet) => void;
}): Promise<KeyWatcher> {
  const { db, keystore, log } = options;
  let keys = options.initial;
  let stopped = false;
  let transitionTimer: NodeJS.Timeout | undefined;
  let pending: Promise<void> = Promise.resolve();

  const armTransition = () => {
    clearTimeout(transitionTimer);
    if (stopped || !keys.validUntil) return;
    // setTimeout holds at most ~24.8 days; a longer wait is re-armed by the periodic check.
    const delay = Math.min(Math.max(keys.validUntil.getTime() - Date.now(), 0) + 5, 2 ** 31 - 1);
    transitionTimer = setTimeout(() => void refresh('transition'), delay);
    transitionTimer.unref();
  };

  async function reload(reason: string): Promise<void> {
    if (stopped) return;
    const next = await keystore.load();
    if (next.version === keys.version) {
      keys = next;
      armTransition();
      return;
    }
    const previous = keys;
    keys = next;
    armTransition();
    log.info({ reason, keys: next.version }, 'signing keys changed; provider rebuilt');
    options.onChange(next, previous);
  }

  // Serialised: a NOTIFY burst or a tick during a reload queues behind it.
  const refresh = (reason: string): Promise<void> => {
    pending = pending.then(() => reload(reason)).catch((error: unknown) => log.warn({ err: error, reason }, 'key reload failed; keeping the current keys'));
    return pending;
  };

  const unlisten = await db.listen(keyChangeChannel, () => void refresh('notification'), () => void refresh('listener reconnected'));
  const tick = setInterval(() => {
    keystore
      .runSchedule()
      .then((result) => {
        if (result?.staged.length) log.info({ staged: result.staged }, 'scheduled rotation staged a new signing key');
        if (result?.removed.length) log.info({ removed: result.removed }, 'expired signing keys removed');
      })
      .catch((error: unknown) => log.warn({ err: error }, 'key rotation schedule failed'))
      .finally(() => void refresh('periodic'));
  }, options.checkIntervalSeconds * 1000);
  tick.unref();
  armTransition();

  return {
    current: () => keys,
    refresh,
    async stop() {
      stopped = true;
      clearInterval(tick);
      clearTimeout(transitionTimer);
      await unlisten().catch(() => undefined);
      await pending;
    },
  };
}
