/**
 * The SQL of invitations (migrations/0023). Concurrency: an invitation is
 * spent by one UPDATE whose WHERE clause is the whole check (unspent,
 * unexpired), so two submissions of one link cannot both pass; `release`
 * gives it back when the account could not be created after all.
 */
import type { Db } from '../db/index.js';

export interface InvitationRow {
  id: string;
  email: string;
  expires_at: Date;
  used_at: Date | null;
  account_id: string | null;
  created_at: Date;
}

const columns = 'id, email, expires_at, used_at, account_id, created_at';

export function createInvitationStore(db: Db) {
  return {
    async insert(invitation: { id: string; tokenHash: Buffer; email: string; ttlSeconds: number }): Promise<InvitationRow> {
      const { rows } = await db.query<InvitationRow>(
        `INSERT INTO invitations (id, token_hash, email, expires_at) VALUES ($1, $2, $3, now() + make_interval(secs => $4::integer)) RETURNING ${columns}`,
        [invitation.id, invitation.tokenHash, invitation.email, invitation.ttlSeconds],
      );
      return rows[0]!;
    },

    /** The open (unspent, unexpired) invitation with this token. */
    async findOpen(tokenHash: Buffer): Promise<InvitationRow | undefined> {
      const { rows } = await db.query<InvitationRow>(`SELECT ${columns} FROM invitations WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()`, [tokenHash]);
      return rows[0];
    },

    /** Spends the invitation: the row for exactly one caller while it is open. */
    async spend(tokenHash: Buffer): Promise<InvitationRow | undefined> {
      const { rows } = await db.query<InvitationRow>(
        `UPDATE invitations SET used_at = now() WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING ${columns}`,
        [tokenHash],
      );
      return rows[0];
    },

    /** Undoes `spend` when no account came of it (its username was taken meanwhile). */
    async release(id: string): Promise<void> {
      await db.query('UPDATE invitations SET used_at = NULL WHERE id = $1 AND account_id IS NULL', [id]);
    },

    async setAccount(id: string, accountId: string): Promise<void> {
      await db.query('UPDATE invitations SET account_id = $2 WHERE id = $1', [id, accountId]);
    },

    /** Invitations expired over a week ago (the cleanup schedule). */
    async deleteExpired(): Promise<number> {
      const { rowCount } = await db.query("DELETE FROM invitations WHERE expires_at < now() - interval '7 days'");
      return rowCount;
    },
  };
}

export type InvitationStore = ReturnType<typeof createInvitationStore>;
