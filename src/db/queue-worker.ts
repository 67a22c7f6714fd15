/**
 * A worker for a PostgreSQL-backed queue that every node runs: woken by
 * LISTEN (and a poll, for a missed notification), it claims due entries
 * (SKIP LOCKED, under a lease), delivers each, and retries a failure with a
 * doubling delay until the last attempt gives the entry up. The back-channel
 * logout queue (src/oidc/backchannel-logout.ts) and the mail outbox
 * (src/mail/worker.ts) differ only in what one delivery is.
 */
import type { Logger } from 'pino';

import type { Db } from './index.js';

export interface QueueEntry {
  attempts: number;
}

export interface Queue<E extends QueueEntry> {
  channel: string;
  claimDue(limit: number, leaseSeconds: number): Promise<E[]>;
  delivered(entry: E): Promise<void>;
  failed(entry: E, error: string, retryInSeconds: number | undefined): Promise<void>;
}

export type QueueOutcome = 'delivered' | 'retry' | 'failed';

export interface QueueWorkerDeps<E extends QueueEntry> {
  db: Db;
  queue: Queue<E>;
  /** Sends one entry; a throw is a failed attempt. */
  deliver(entry: E): Promise<void>;
  /** What the log says of an entry, and what it calls the queue ("mail", "back-channel logout"). */
  describe(entry: E): Record<string, unknown>;
  name: string;
  log: Logger;
  settings: { attempts: number; retryDelaySeconds: number; pollIntervalSeconds: number };
  /** Claimed per round trip; how long a claimed entry is this node's before another may try it. */
  batch: number;
  leaseSeconds: number;
  /** Deliver a batch one at a time (an SMTP server limits connections) or all at once. */
  sequential: boolean;
  onOutcome?: ((outcome: QueueOutcome) => void) | undefined;
}

export interface QueueWorker {
  /** One pass over what is due; resolves with how many entries it tried. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

export async function startQueueWorker<E extends QueueEntry>(deps: QueueWorkerDeps<E>): Promise<QueueWorker> {
  const { queue, log, settings, name } = deps;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;

  async function attempt(entry: E): Promise<void> {
    try {
      await deps.deliver(entry);
      await queue.delivered(entry);
      deps.onOutcome?.('delivered');
      log.info({ ...deps.describe(entry), attempts: entry.attempts }, `${name} delivered`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const retryIn = entry.attempts < settings.attempts ? settings.retryDelaySeconds * 2 ** (entry.attempts - 1) : undefined;
      await queue.failed(entry, message, retryIn);
      deps.onOutcome?.(retryIn === undefined ? 'failed' : 'retry');
      log.warn(
        { ...deps.describe(entry), attempts: entry.attempts, retryInSeconds: retryIn, err: message },
        retryIn === undefined ? `${name} failed: given up` : `${name} failed: will retry`,
      );
    }
  }

  async function drain(): Promise<number> {
    let tried = 0;
    for (;;) {
      const due = await queue.claimDue(deps.batch, deps.leaseSeconds);
      if (deps.sequential) for (const entry of due) await attempt(entry);
      else await Promise.all(due.map(attempt));
      tried += due.length;
      if (due.length < deps.batch || stopped) return tried;
    }
  }

  /** One pass; a kick while a pass runs schedules one more, so no notification is lost. */
  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = drain()
      .catch((error: unknown) => {
        log.warn({ err: error }, `${name} queue unavailable`);
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          void runOnce();
        }
      });
    return running;
  }

  const unlisten = await deps.db.listen(queue.channel, () => void runOnce(), () => void runOnce());
  const timer = setInterval(() => void runOnce(), settings.pollIntervalSeconds * 1000);
  timer.unref();
  void runOnce();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await unlisten().catch(() => undefined);
      await running;
    },
  };
}
