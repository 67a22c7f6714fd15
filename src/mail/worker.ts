/**
 * Delivers the outbox off the request path. Every node runs this worker: it
 * claims due messages (SKIP LOCKED, under a lease), hands each to the SMTP
 * transport, and retries a refused or unreachable delivery with a doubling
 * delay; the last failure gives the message up (audited by the service).
 * The shape is the back-channel logout worker's (src/oidc/backchannel-logout.ts).
 */
import type { Logger } from 'pino';

import type { Db } from '../db/index.js';
import type { MailOutbox } from './mail.js';
import type { OutboxRow } from './store.js';
import type { MailTransport } from './transport.js';

export interface MailWorkerDeps {
  db: Db;
  outbox: MailOutbox;
  transport: MailTransport;
  log: Logger;
  settings: { attempts: number; retryDelaySeconds: number; pollIntervalSeconds: number };
  onOutcome?: (outcome: 'delivered' | 'retry' | 'failed') => void;
}

export interface MailWorker {
  /** One pass over what is due; resolves with how many messages it tried. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

const leaseSeconds = 60;
const batch = 10;

export async function startMailWorker(deps: MailWorkerDeps): Promise<MailWorker> {
  const { outbox, log, settings } = deps;
  let running: Promise<number> | undefined;
  let again = false;
  let stopped = false;

  async function deliver(entry: OutboxRow): Promise<void> {
    try {
      if (!entry.recipient || !entry.subject || entry.text_body === null) throw new Error('the message has no recipient or body');
      await deps.transport.send({ to: entry.recipient, subject: entry.subject, text: entry.text_body, html: entry.html_body ?? '' });
      await outbox.delivered(entry);
      deps.onOutcome?.('delivered');
      log.info({ mail: entry.id, kind: entry.kind, attempts: entry.attempts }, 'mail delivered');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const retryIn = entry.attempts < settings.attempts ? settings.retryDelaySeconds * 2 ** (entry.attempts - 1) : undefined;
      await outbox.failed(entry, message, retryIn);
      deps.onOutcome?.(retryIn === undefined ? 'failed' : 'retry');
      log.warn({ mail: entry.id, kind: entry.kind, attempts: entry.attempts, retryInSeconds: retryIn, err: message }, retryIn === undefined ? 'mail delivery failed: given up' : 'mail delivery failed: will retry');
    }
  }

  async function drain(): Promise<number> {
    let tried = 0;
    for (;;) {
      const due = await outbox.claimDue(batch, leaseSeconds);
      // One at a time: an SMTP server limits connections per client, and mail is never urgent to the millisecond.
      for (const entry of due) await deliver(entry);
      tried += due.length;
      if (due.length < batch || stopped) return tried;
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
        log.warn({ err: error }, 'mail outbox unavailable');
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

  const unlisten = await deps.db.listen(outbox.channel, () => void runOnce(), () => void runOnce());
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
      deps.transport.close();
    },
  };
}
