/**
 * The mail service: messages rendered from views/email/ and queued in the
 * outbox inside the caller's transaction, so a message goes out exactly when
 * the change it tells of commits. The worker (worker.ts) delivers them;
 * nothing here talks SMTP. Without GATEHOUSE_SMTP_URL the service is
 * disabled: nothing is queued, and the pages offer no reset by email.
 */
import { recordAs, system, type Audit } from '../audit/events.js';
import type { Db, Queryable } from '../db/index.js';
import { createMailStore, type MailStore, type OutboxRow } from './store.js';
import { createMessageTemplates, type MessageKind, type MessageTemplates } from './templates.js';

export type { OutboxRow };

/** Who a message is about and to; `id` null for an address with no account yet (an invitation, a sign-up). */
export interface Addressee {
  id: string | null;
  username: string;
  email: string | null;
}

export interface MailOutbox {
  /** NOTIFY channel the worker listens on. */
  readonly channel: string;
  claimDue(limit: number, leaseSeconds: number): Promise<OutboxRow[]>;
  delivered(entry: OutboxRow): Promise<void>;
  /** `retryInSeconds` undefined: the last attempt failed; the message is given up (and audited). */
  failed(entry: OutboxRow, error: string, retryInSeconds: number | undefined): Promise<void>;
  /** The account's messages, newest last (bodies only while pending). */
  of(accountId: string): Promise<OutboxRow[]>;
}

export interface MailService {
  readonly enabled: boolean;
  readonly outbox: MailOutbox;
  /** The store the recovery, verification and notice services share. */
  readonly store: MailStore;
  /** Renders and queues one message inside `tx`; false (nothing queued) when mail is off or the account has no address. */
  queue(tx: Queryable, kind: MessageKind, to: Addressee, data?: Record<string, unknown>): Promise<boolean>;
  /** Wakes the workers after the transaction that queued something committed. */
  kick(): Promise<void>;
  /** Settled outbox rows and long-expired links (the cleanup schedule). */
  deleteExpired(batchSize: number): Promise<number>;
}

const channel = 'gatehouse_mail_outbox';
/** Delivered and given-up rows (already without recipient or body) are kept a week for `outbox` views, then deleted. */
const settledRetentionSeconds = 7 * 86_400;

export function createMailService(db: Db, audit: Audit, settings: { enabled: boolean; issuer: string }, templates: MessageTemplates = createMessageTemplates(settings.issuer)): MailService {
  const store = createMailStore(db);
  return {
    enabled: settings.enabled,
    store,
    outbox: {
      channel,
      claimDue: (limit, leaseSeconds) => store.claimDue(limit, leaseSeconds),
      async delivered(entry) {
        await store.markDelivered(entry.id);
        recordAs(audit, system, { type: 'mail.delivered', subject: entry.account_id ?? undefined, detail: { kind: entry.kind, attempts: entry.attempts } });
      },
      async failed(entry, error, retryInSeconds) {
        await store.markFailed(entry.id, error, retryInSeconds);
        if (retryInSeconds === undefined) {
          recordAs(audit, system, {
            type: 'mail.failed',
            outcome: 'failure',
            subject: entry.account_id ?? undefined,
            detail: { kind: entry.kind, attempts: entry.attempts, error: error.slice(0, 200) },
          });
        }
      },
      of: (accountId) => store.outboxOf(accountId),
    },
    async queue(tx, kind, to, data = {}) {
      if (!settings.enabled || !to.email) return false;
      const message = templates.render(kind, { ...data, recipient: to.email, username: to.username });
      await store.enqueue(tx, { kind, accountId: to.id, recipient: to.email, ...message });
      return true;
    },
    kick: () => db.notify(channel, '1'),
    async deleteExpired() {
      return (await store.deleteSettled(settledRetentionSeconds)) + (await store.deleteExpiredLinks());
    },
  };
}
