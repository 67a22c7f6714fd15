/**
 * The SQL of the mail service: the outbox (migrations/0019), the single-use
 * links it sends, and the devices accounts have signed in from. Concurrency:
 * the outbox is claimed under SKIP LOCKED with a lease (as the back-channel
 * logout queue, src/sessions/store.ts); a link is spent by one UPDATE whose
 * WHERE clause is the whole check, so two requests with one link cannot both
 * pass.
 */
import type { Db, Queryable } from '../db/index.js';

export interface OutboxRow {
  id: string;
  kind: string;
  account_id: string | null;
  recipient: string | null;
  subject: string | null;
  text_body: string | null;
  html_body: string | null;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface NewMessage {
  kind: string;
  accountId: string | null;
  recipient: string;
  subject: string;
  text: string;
  html: string;
}

export type LinkPurpose = 'password_reset' | 'email_verification';

export interface LinkRow {
  account_id: string;
  email: string;
  expires_at: Date;
}

const outboxColumns = 'id::text AS id, kind, account_id, recipient, subject, text_body, html_body, state, attempts, last_error, created_at, updated_at';

export function createMailStore(db: Db) {
  return {
    async enqueue(tx: Queryable, message: NewMessage): Promise<void> {
      await tx.query('INSERT INTO mail_outbox (kind, account_id, recipient, subject, text_body, html_body) VALUES ($1, $2, $3, $4, $5, $6)', [
        message.kind,
        message.accountId,
        message.recipient,
        message.subject,
        message.text,
        message.html,
      ]);
    },

    /** Up to `limit` due messages for this node, each pushed `leaseSeconds` ahead so a node that dies leaves it to another. */
    async claimDue(limit: number, leaseSeconds: number): Promise<OutboxRow[]> {
      const { rows } = await db.query<OutboxRow>(
        `UPDATE mail_outbox SET next_attempt_at = now() + make_interval(secs => $2::integer), attempts = attempts + 1, updated_at = now()
          WHERE id IN (SELECT id FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING ${outboxColumns}`,
        [limit, leaseSeconds],
      );
      return rows;
    },

    /** Delivered: the recipient and the bodies (a link is a credential) are erased at once. */
    async markDelivered(id: string): Promise<void> {
      await db.query(
        "UPDATE mail_outbox SET state = 'delivered', recipient = NULL, subject = NULL, text_body = NULL, html_body = NULL, last_error = NULL, updated_at = now() WHERE id = $1",
        [id],
      );
    },

    /** `retryInSeconds` undefined: given up, and erased like a delivered message. */
    async markFailed(id: string, error: string, retryInSeconds: number | undefined): Promise<void> {
      if (retryInSeconds === undefined) {
        await db.query(
          "UPDATE mail_outbox SET state = 'failed', recipient = NULL, subject = NULL, text_body = NULL, html_body = NULL, last_error = $2, updated_at = now() WHERE id = $1",
          [id, error.slice(0, 500)],
        );
        return;
      }
      await db.query('UPDATE mail_outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3::integer), updated_at = now() WHERE id = $1', [
        id,
        error.slice(0, 500),
        retryInSeconds,
      ]);
    },

    async outboxOf(accountId: string): Promise<OutboxRow[]> {
      const { rows } = await db.query<OutboxRow>(`SELECT ${outboxColumns} FROM mail_outbox WHERE account_id = $1 ORDER BY id`, [accountId]);
      return rows;
    },

    async deleteSettled(olderThanSeconds: number): Promise<number> {
      const { rowCount } = await db.query("DELETE FROM mail_outbox WHERE state <> 'pending' AND updated_at < now() - make_interval(secs => $1::integer)", [olderThanSeconds]);
      return rowCount;
    },

    /** A new link replaces the account's earlier unspent ones of the same purpose: only the latest message works. */
    async insertLink(tx: Queryable, link: { tokenHash: Buffer; purpose: LinkPurpose; accountId: string; email: string; ttlSeconds: number }): Promise<Date> {
      await tx.query('DELETE FROM email_links WHERE account_id = $1 AND purpose = $2 AND used_at IS NULL', [link.accountId, link.purpose]);
      const { rows } = await tx.query<{ expires_at: Date }>(
        `INSERT INTO email_links (token_hash, purpose, account_id, email, expires_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::integer))
          RETURNING expires_at`,
        [link.tokenHash, link.purpose, link.accountId, link.email, link.ttlSeconds],
      );
      return rows[0]!.expires_at;
    },

    /** The unspent, unexpired link, still addressed to the account's current email. */
    async findLink(tokenHash: Buffer, purpose: LinkPurpose): Promise<LinkRow | undefined> {
      const { rows } = await db.query<LinkRow>(
        `SELECT l.account_id, l.email, l.expires_at FROM email_links l JOIN accounts a ON a.id = l.account_id
          WHERE l.token_hash = $1 AND l.purpose = $2 AND l.used_at IS NULL AND l.expires_at > now() AND lower(a.email) = lower(l.email) AND NOT a.disabled`,
        [tokenHash, purpose],
      );
      return rows[0];
    },

    /** Spends the link: true for exactly one caller, while it is unspent, unexpired and still the account's address. */
    async spendLink(tx: Queryable, tokenHash: Buffer, purpose: LinkPurpose, accountId: string): Promise<LinkRow | undefined> {
      const { rows } = await tx.query<LinkRow>(
        `UPDATE email_links l SET used_at = now() FROM accounts a
          WHERE l.token_hash = $1 AND l.purpose = $2 AND l.account_id = $3 AND a.id = l.account_id
            AND l.used_at IS NULL AND l.expires_at > now() AND lower(a.email) = lower(l.email) AND NOT a.disabled
          RETURNING l.account_id, l.email, l.expires_at`,
        [tokenHash, purpose, accountId],
      );
      return rows[0];
    },

    async deleteExpiredLinks(): Promise<number> {
      const { rowCount } = await db.query('DELETE FROM email_links WHERE expires_at < now() - interval \'1 day\'');
      return rowCount;
    },

    async setEmailVerified(tx: Queryable, accountId: string, email: string): Promise<boolean> {
      const { rowCount } = await tx.query('UPDATE accounts SET email_verified = true, updated_at = now() WHERE id = $1 AND lower(email) = lower($2)', [accountId, email]);
      return rowCount > 0;
    },

    /** Records the fingerprints; returns how many of them were known before, and whether the account had any device at all. */
    async seeDevice(accountId: string, fingerprints: Buffer[]): Promise<{ known: boolean; firstDevice: boolean }> {
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ fingerprint: Buffer }>('SELECT fingerprint FROM known_devices WHERE account_id = $1', [accountId]);
        const seen = new Set(rows.map((r) => Buffer.from(r.fingerprint).toString('hex')));
        const known = fingerprints.some((f) => seen.has(f.toString('hex')));
        for (const f of fingerprints) {
          await tx.query(
            `INSERT INTO known_devices (account_id, fingerprint) VALUES ($1, $2)
              ON CONFLICT (account_id, fingerprint) DO UPDATE SET last_seen_at = now()`,
            [accountId, f],
          );
        }
        return { known, firstDevice: rows.length === 0 };
      });
    },

    /** Devices not seen for `olderThanSeconds` are forgotten: a sign-in from one is new again. */
    async forgetDevices(olderThanSeconds: number): Promise<number> {
      const { rowCount } = await db.query('DELETE FROM known_devices WHERE last_seen_at < now() - make_interval(secs => $1::integer)', [olderThanSeconds]);
      return rowCount;
    },
  };
}

export type MailStore = ReturnType<typeof createMailStore>;
