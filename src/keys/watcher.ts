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
  /** Resolves once the reloads already queued (by a timer or a notification) have finished. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

type Timer = ReturnType<typeof setTimeout>;

/**
 * Time as the watcher sees it. Production uses the system clock and timers;
 * tests pass a manual clock, so a scheduled activation or a periodic check
 * happens when the test advances time, not after a fixed sleep.
 */
export interface Clock {
  now(): Date;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
  setInterval(fn: () => void, ms: number): Timer;
  clearInterval(timer: Timer | undefined): void;
}

export const systemClock: Clock = {
  now: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (timer) => clearTimeout(timer),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (timer) => clearInterval(timer),
};

export async function watchKeys(options: {
  db: Db;
  keystore: Keystore;
  initial: KeySet;
  checkIntervalSeconds: number;
  log: Logger;
  onChange: (keys: KeySet, previous: KeySet) => void;
  clock?: Clock;
}): Promise<KeyWatcher> {
  const { db, keystore, log, clock = systemClock } = options;
  let keys = options.initial;
  let stopped = false;
  let transitionTimer: Timer | undefined;
  let pending: Promise<void> = Promise.resolve();

  const armTransition = () => {
    clock.clearTimeout(transitionTimer);
    if (stopped || !keys.validUntil) return;
    // setTimeout holds at most ~24.8 days; a longer wait is re-armed by the periodic check.
    const delay = Math.min(Math.max(keys.validUntil.getTime() - clock.now().getTime(), 0) + 5, 2 ** 31 - 1);
    transitionTimer = clock.setTimeout(() => void refresh('transition'), delay);
  };

  async function reload(reason: string): Promise<void> {
    if (stopped) return;
    const next = await keystore.load(clock.now());
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
  const tick = clock.setInterval(() => {
    keystore
      .runSchedule(clock.now())
      .then((result) => {
        if (result?.staged.length) log.info({ staged: result.staged }, 'scheduled rotation staged a new signing key');
        if (result?.removed.length) log.info({ removed: result.removed }, 'expired signing keys removed');
      })
      .catch((error: unknown) => log.warn({ err: error }, 'key rotation schedule failed'))
      .finally(() => void refresh('periodic'));
  }, options.checkIntervalSeconds * 1000);
  armTransition();

  return {
    current: () => keys,
    refresh,
    idle: () => pending,
    async stop() {
      stopped = true;
      clock.clearInterval(tick);
      clock.clearTimeout(transitionTimer);
      await unlisten().catch(() => undefined);
      await pending;
    },
  };
}
