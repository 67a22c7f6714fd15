import type { Db, Queryable } from '../db/index.js';

export interface AccountRow {
  id: string;
  username: string;
  email: string | null;
  email_verified: boolean;
  name: string | null;
  given_name: string | null;
  family_name: string | null;
  password_hash: string;
  disabled: boolean;
  /** Holds the administrator role: the 0008 marker column follows the role assignment (migration 0017's trigger). */
  admin: boolean;
  created_at: Date;
  updated_at: Date;
  /** Bumped by trigger on every UPDATE (migration 0023): the admin API's ETag and compare-and-set. */
  version: number | string;
}

export interface NewAccountRow {
  id: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  passwordHash: string;
}

export function createAccountStore(db: Db) {
  return {
    async insert(row: NewAccountRow): Promise<AccountRow> {
      const { rows } = await db.query<AccountRow>(
        `INSERT INTO accounts (id, username, email, email_verified, name, given_name, family_name, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
        [row.id, row.username, row.email, row.emailVerified, row.name, row.givenName, row.familyName, row.passwordHash],
      );
      return rows[0]!;
    },
    async findById(id: string, executor: Queryable = db): Promise<AccountRow | undefined> {
      const { rows } = await executor.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id]);
      return rows[0];
    },
    /** A login name is a username or an email address, matched case-insensitively. */
    async findByLogin(login: string, executor: Queryable = db): Promise<AccountRow | undefined> {
      const { rows } = await executor.query<AccountRow>(
        'SELECT * FROM accounts WHERE lower(username) = lower($1) OR lower(email) = lower($1) ORDER BY lower(username) = lower($1) DESC LIMIT 1',
        [login],
      );
      return rows[0];
    },
    async list(): Promise<AccountRow[]> {
      const { rows } = await db.query<AccountRow>('SELECT * FROM accounts ORDER BY created_at, username');
      return rows;
    },
    async setDisabled(id: string, disabled: boolean): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE accounts SET disabled = $2, updated_at = now() WHERE id = $1', [id, disabled]);
      return rowCount > 0;
    },
    /**
     * The admin marker is the administrator role (migration 0017): this assigns
     * or removes the role, and the column follows it by trigger. With
     * `expectedVersion` the touch is a compare-and-set (false: the row is gone
     * or changed since); run it in the caller's transaction so the assignment
     * commits with the touch.
     */
    async setAdmin(id: string, admin: boolean, expectedVersion: number | null = null, executor: Queryable = db): Promise<boolean> {
      const { rowCount } = await executor.query('UPDATE accounts SET updated_at = now() WHERE id = $1 AND ($2::bigint IS NULL OR version = $2::bigint)', [id, expectedVersion]);
      if (rowCount === 0) return false;
      if (admin) {
        await executor.query(`INSERT INTO role_assignments (role, account_id) VALUES ('administrator', $1) ON CONFLICT DO NOTHING`, [id]);
      } else {
        await executor.query(`DELETE FROM role_assignments WHERE role = 'administrator' AND account_id = $1`, [id]);
      }
      return true;
    },
    /**
     * Compare-and-set when `expectedVersion` is given: of two writers racing
     * with one version, the second re-checks `version = $7` after the first
     * commits (its trigger bumped it) and matches nothing (undefined).
     */
    async setProfile(
      id: string,
      profile: { email: string | null; emailVerified: boolean; name: string | null; givenName: string | null; familyName: string | null },
      expectedVersion: number | null = null,
      executor: Queryable = db,
    ): Promise<AccountRow | undefined> {
      const { rows } = await executor.query<AccountRow>(
        `UPDATE accounts SET email = $2, email_verified = $3, name = $4, given_name = $5, family_name = $6, updated_at = now()
          WHERE id = $1 AND ($7::bigint IS NULL OR version = $7::bigint) RETURNING *`,
        [id, profile.email, profile.emailVerified, profile.name, profile.givenName, profile.familyName, expectedVersion],
      );
      return rows[0];
    },
    async setPasswordHash(id: string, passwordHash: string): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE accounts SET password_hash = $2, updated_at = now() WHERE id = $1', [id, passwordHash]);
      return rowCount > 0;
    },
  };
}

export type AccountStore = ReturnType<typeof createAccountStore>;
