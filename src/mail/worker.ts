/**
 * Delivers the outbox off the request path. Every node runs this worker: it
 * claims due messages (SKIP LOCKED, under a lease), hands each to the SMTP
 * transport, and retries a refused or unreachable delivery with a doubling
 * delay; the last failure gives the message up (audited by the service).
 * The loop is the back-channel logout worker's too (src/db/queue-worker.ts).
 */
import type { Logger } from 'pino';

import type { Db } from '../db/index.js';
import { startQueueWorker, type QueueWorker } from '../db/queue-worker.js';
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

export type MailWorker = QueueWorker;

export async function startMailWorker(deps: MailWorkerDeps): Promise<MailWorker> {
  const worker = await startQueueWorker<OutboxRow>({
    db: deps.db,
    queue: deps.outbox,
    name: 'mail delivery',
    describe: (entry) => ({ mail: entry.id, kind: entry.kind }),
    async deliver(entry) {
      if (!entry.recipient || !entry.subject || entry.text_body === null) throw new Error('the message has no recipient or body');
      await deps.transport.send({ to: entry.recipient, subject: entry.subject, text: entry.text_body, html: entry.html_body ?? '' });
    },
    log: deps.log,
    settings: deps.settings,
    batch: 10,
    leaseSeconds: 60,
    // One at a time: an SMTP server limits connections per client, and mail is never urgent to the millisecond.
    sequential: true,
    onOutcome: deps.onOutcome,
  });
  return {
    runOnce: worker.runOnce,
    async stop() {
      await worker.stop();
      deps.transport.close();
    },
  };
}
