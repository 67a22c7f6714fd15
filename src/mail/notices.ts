/**
 * Security notices (issue 19 §3): a sign-in from a device or network the
 * account has not used, a password changed or reset, a second factor added
 * or removed, a recovery code used. Each is a message in the outbox and an
 * audit event (`notice.queued`).
 *
 * Devices are remembered privacy-first: the table holds only HMACs (under a
 * key derived from the master secret) of a random device cookie, and of the
 * client's network (IPv4 /24, IPv6 /48) with its user agent. A sign-in is
 * familiar when either matches, so a cleared cookie on the usual network, or
 * the usual laptop on a new network, does not alarm; a new browser on a new
 * network does. The account's very first sign-in sends nothing (there is
 * nothing to compare with); devices unseen for 180 days are forgotten.
 *
 * Changes made elsewhere (passwords, factors) are noticed from their audit
 * events: `withNotices` wraps the audit sink the accounts, mfa and passkey
 * services record through, so every path (pages, CLI, admin API, the
 * account page) sends the notice without each one calling this module.
 */
import { createHmac } from 'node:crypto';
import { isIP } from 'node:net';

import { recordAs, system, type Audit, type AuditEvent } from '../audit/events.js';
import type { Db } from '../db/index.js';
import type { Addressee, MailService } from './mail.js';
import type { NoticeKind } from './templates.js';

export interface SignInDevice {
  /** The device cookie's value (random, set on first sign-in). */
  deviceId: string;
  ip: string;
  userAgent: string;
}

export interface SecurityNotices {
  /** Records the device; queues a notice when it is new to an account that has signed in before. */
  signedIn(accountId: string, device: SignInDevice): Promise<'known' | 'new' | 'first'>;
  /** Queues one notice (and audits it); false when nothing was queued. */
  send(kind: NoticeKind, accountId: string, data?: Record<string, unknown>): Promise<boolean>;
  /** An audit sink that also sends the notices its events call for. */
  withNotices(audit: Audit): Audit;
  /** Forgets devices unseen for long (the cleanup schedule). */
  deleteExpired(batchSize: number): Promise<number>;
}

export interface NoticeDeps {
  mail: MailService;
  audit: Audit;
  fingerprintKey: Buffer;
  findAccount(id: string): Promise<Addressee | undefined>;
  db: Pick<Db, 'transaction'>;
}

const forgetAfterSeconds = 180 * 86_400;

/** The network part of an address: what a fingerprint keeps of it. */
export function networkOf(ip: string): string {
  const address = ip.replace(/^::ffff:(?=\d+\.)/, '');
  if (isIP(address) === 4) return address.split('.').slice(0, 3).join('.');
  if (isIP(address) === 6) {
    const [head = '', tail = ''] = address.split('::');
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
    return groups.slice(0, 3).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':');
  }
  return address;
}

const when = () => new Date().toUTCString();

/** Which audit events call for which notice. */
function noticeFor(event: AuditEvent): { kind: NoticeKind; data: Record<string, unknown> } | undefined {
  if (event.outcome === 'failure') return undefined;
  switch (event.type) {
    case 'account.password_changed':
      return { kind: event.detail?.via === 'password_reset' ? 'notice_password_reset' : 'notice_password_changed', data: {} };
    case 'mfa.enrolled':
      return { kind: 'notice_factor_added', data: { factor: 'An authenticator app' } };
    case 'passkey.registered':
      return { kind: 'notice_factor_added', data: { factor: 'A passkey' } };
    case 'mfa.reset':
      return { kind: 'notice_factor_removed', data: { factor: 'The authenticator app and recovery codes' } };
    case 'passkey.removed':
      return { kind: 'notice_factor_removed', data: { factor: 'A passkey' } };
    case 'mfa.recovery_code_used':
      return { kind: 'notice_recovery_code_used', data: { codesLeft: event.detail?.left ?? 0 } };
    default:
      return undefined;
  }
}

export function createSecurityNotices(deps: NoticeDeps): SecurityNotices {
  const { mail, audit } = deps;
  const fingerprint = (value: string) => createHmac('sha256', deps.fingerprintKey).update(value).digest();

  async function send(kind: NoticeKind, accountId: string, data: Record<string, unknown> = {}): Promise<boolean> {
    if (!mail.enabled) return false;
    const account = await deps.findAccount(accountId);
    if (!account?.email) return false;
    const queued = await deps.db.transaction((tx) => mail.queue(tx, kind, account, { when: when(), ...data }));
    if (!queued) return false;
    await mail.kick();
    recordAs(audit, system, { type: 'notice.queued', subject: accountId, detail: { kind } });
    return true;
  }

  return {
    send,

    async signedIn(accountId, device) {
      const ua = device.userAgent.slice(0, 300);
      const seen = await mail.store.seeDevice(accountId, [fingerprint(`device:${device.deviceId}`), fingerprint(`network:${networkOf(device.ip)}|${ua}`)]);
      if (seen.firstDevice) return 'first';
      if (seen.known) return 'known';
      await send('notice_new_sign_in', accountId, { browser: ua.slice(0, 120), address: device.ip });
      return 'new';
    },

    withNotices(inner) {
      return {
        record(event) {
          inner.record(event);
          const notice = noticeFor(event);
          if (!notice || !event.subject || !mail.enabled) return;
          // record() never blocks nor throws (src/audit/events.ts): the notice follows on its own.
          send(notice.kind, event.subject, notice.data).catch((error: unknown) => {
            inner.record({ type: 'notice.failed', outcome: 'failure', subject: event.subject, detail: { kind: notice.kind, error: error instanceof Error ? error.message.slice(0, 200) : 'unknown' } });
          });
        },
      };
    },

    deleteExpired: () => mail.store.forgetDevices(forgetAfterSeconds),
  };
}
