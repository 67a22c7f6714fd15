/**
 * Invitations (GATEHOUSE_SIGNUP=invite, issue 19 §5): an operator invites an
 * address; the link carries 256 random bits, kept only as their SHA-256,
 * single-use and short-lived (GATEHOUSE_INVITATION_TTL). The link is emailed
 * when mail is on, and returned once to the operator either way, so an
 * installation without SMTP can still hand it over. Whoever opens it chooses
 * a username and password; the address is the invited one and counts as
 * verified (the link reached that mailbox).
 */
import { randomUUID } from 'node:crypto';

import { emailSchema } from '../accounts/schemas.js';
import type { AccountService } from '../accounts/accounts.js';
import { recordAs, type Actor, type Audit } from '../audit/events.js';
import { sha256 } from '../crypto/digest.js';
import type { Db } from '../db/index.js';
import type { MailService } from '../mail/mail.js';
import { linkTokenPattern, newLinkToken } from '../mail/recovery.js';
import { createInvitationStore, type InvitationRow } from './store.js';

export class InvitationError extends Error {
  override name = 'InvitationError';
  constructor(readonly kind: 'off' | 'conflict' | 'invalid', message: string) {
    super(message);
  }
}

export interface Invitation {
  id: string;
  email: string;
  expiresAt: Date;
}

export interface CreatedInvitation extends Invitation {
  /** The link itself: shown once, never stored. */
  link: string;
  /** Whether a message with the link was queued (false when mail is off). */
  emailed: boolean;
}

export interface InvitationService {
  readonly enabled: boolean;
  create(actor: Actor, email: string): Promise<CreatedInvitation>;
  /** The open invitation a token names (the sign-up page shows its address). */
  open(token: string): Promise<Invitation | undefined>;
  /** Spends it: for exactly one caller while it is open. */
  spend(token: string): Promise<Invitation | undefined>;
  /** Gives a spent invitation back when no account came of it. */
  release(invitation: Invitation): Promise<void>;
  /** Records the account it became, audited as the new user's. */
  accepted(invitation: Invitation, accountId: string): Promise<void>;
  deleteExpired(batchSize: number): Promise<number>;
}

const toInvitation = (row: InvitationRow): Invitation => ({ id: row.id, email: row.email, expiresAt: row.expires_at });

export function createInvitationService(deps: { db: Db; mail: MailService; accounts: Pick<AccountService, 'find'>; audit: Audit; settings: { enabled: boolean; issuer: string; ttlSeconds: number } }): InvitationService {
  const { db, mail, accounts, audit, settings } = deps;
  const store = createInvitationStore(db);
  const hashOf = (token: string) => (linkTokenPattern.test(token) ? sha256(token) : undefined);
  return {
    enabled: settings.enabled,

    async create(actor, input) {
      if (!settings.enabled) throw new InvitationError('off', 'sign-up by invitation is off (GATEHOUSE_SIGNUP=invite turns it on)');
      const parsed = emailSchema.safeParse(input);
      if (!parsed.success) throw new InvitationError('invalid', 'that is not an email address');
      const email = parsed.data;
      if (await accounts.find(email)) throw new InvitationError('conflict', 'an account with that email already exists');
      const token = newLinkToken();
      const link = `${settings.issuer}/signup/invitation?token=${token}`;
      const row = await store.insert({ id: randomUUID(), tokenHash: sha256(token), email, ttlSeconds: settings.ttlSeconds });
      const emailed = await db.transaction((tx) => mail.queue(tx, 'invitation', { id: null, username: '', email }, { link, days: Math.max(1, Math.round(settings.ttlSeconds / 86_400)) }));
      if (emailed) await mail.kick();
      recordAs(audit, actor, { type: 'invitation.created', subject: row.id, detail: { emailed, expiresAt: row.expires_at.toISOString() } });
      return { ...toInvitation(row), link, emailed };
    },

    async open(token) {
      const hash = hashOf(token);
      const row = hash && (await store.findOpen(hash));
      return row ? toInvitation(row) : undefined;
    },

    async spend(token) {
      const hash = hashOf(token);
      const row = hash && (await store.spend(hash));
      return row ? toInvitation(row) : undefined;
    },

    release: (invitation) => store.release(invitation.id),

    async accepted(invitation, accountId) {
      await store.setAccount(invitation.id, accountId);
      recordAs(audit, { kind: 'user', userId: accountId }, { type: 'invitation.accepted', subject: invitation.id, detail: { accountId } });
    },

    deleteExpired: () => store.deleteExpired(),
  };
}
