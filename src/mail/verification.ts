/**
 * Email verification (issue 19 §3): a single-use link (stored as its
 * SHA-256) sent to the account's current address, on demand (CLI `gatehouse
 * users verify-email --send`, POST /admin/v1/users/{id}/email-verification)
 * and whenever the address changes. Opening the link shows a button; the
 * POST sets `email_verified`, which the `email_verified` claim reflects
 * (src/accounts/accounts.ts standardClaims). Mail scanners that fetch links
 * therefore cannot verify an address, and a link sent to an earlier address
 * does nothing once the address has changed.
 */
import type { Account, AccountService } from '../accounts/accounts.js';
import { recordAs, type Actor, type Audit } from '../audit/events.js';
import { sha256 } from '../crypto/digest.js';
import type { Db } from '../db/index.js';
import type { MailService } from './mail.js';
import { linkTokenPattern, newLinkToken } from './recovery.js';

export class MailError extends Error {
  override name = 'MailError';
}

export interface EmailVerification {
  /** Sends a new link (earlier ones stop working); throws MailError when mail is off, the account is unknown or has no address. */
  send(actor: Actor, idOrLogin: string): Promise<{ account: Account; sentTo: string; expiresAt: Date }>;
  /** Whether the link is open (the page shows its button only then). */
  peek(token: string): Promise<boolean>;
  /** Spends the link and marks the address verified; undefined when the link is gone. */
  confirm(token: string): Promise<Account | undefined>;
}

export function createEmailVerification(deps: { db: Db; mail: MailService; accounts: AccountService; audit: Audit; issuer: string; ttlSeconds: number }): EmailVerification {
  const { db, mail, accounts, audit } = deps;
  return {
    async send(actor, idOrLogin) {
      if (!mail.enabled) throw new MailError('mail is not configured (GATEHOUSE_SMTP_URL)');
      const account = await accounts.find(idOrLogin);
      if (!account) throw new MailError('no such account');
      if (!account.email) throw new MailError('the account has no email address');
      const email = account.email;
      const token = newLinkToken();
      const expiresAt = await db.transaction(async (tx) => {
        const expires = await mail.store.insertLink(tx, { tokenHash: sha256(token), purpose: 'email_verification', accountId: account.id, email, ttlSeconds: deps.ttlSeconds });
        await mail.queue(tx, 'email_verification', account, { link: `${deps.issuer}/verify-email?token=${token}`, hours: Math.round(deps.ttlSeconds / 3600) });
        return expires;
      });
      await mail.kick();
      recordAs(audit, actor, { type: 'email.verification_sent', subject: account.id });
      return { account, sentTo: email, expiresAt };
    },

    async peek(token) {
      return linkTokenPattern.test(token) && (await mail.store.findLink(sha256(token), 'email_verification')) !== undefined;
    },

    async confirm(token) {
      if (!linkTokenPattern.test(token)) return undefined;
      const link = await mail.store.findLink(sha256(token), 'email_verification');
      if (!link) return undefined;
      const verified = await db.transaction(async (tx) => {
        const spent = await mail.store.spendLink(tx, sha256(token), 'email_verification', link.account_id);
        return spent ? mail.store.setEmailVerified(tx, spent.account_id, spent.email) : false;
      });
      if (!verified) return undefined;
      recordAs(audit, { kind: 'user', userId: link.account_id }, { type: 'account.email_verified', subject: link.account_id });
      return accounts.findById(link.account_id);
    },
  };
}
