/**
 * client_previous_secrets and the current secret's column on clients: the SQL
 * behind secret rotation with overlap (migrations/0008_admin_api.sql).
 */
import type { Db, Queryable } from '../db/index.js';

export interface PreviousSecretRow {
  id: string;
  client_id: string;
  ciphertext: string;
  created_at: Date;
  expires_at: Date;
  last_used_at: Date | null;
}

export function createClientSecretStore(db: Db) {
  return {
    /** The current secret, locked: two rotations of one client apply one after the other. */
    async lockCurrent(tx: Queryable, clientId: string): Promise<{ secret_ciphertext: string | null; secret_created_at: Date | null; created_at: Date } | undefined> {
      const { rows } = await tx.query<{ secret_ciphertext: string | null; secret_created_at: Date | null; created_at: Date }>(
        'SELECT secret_ciphertext, secret_created_at, created_at FROM clients WHERE client_id = $1 FOR UPDATE',
        [clientId],
      );
      return rows[0];
    },
    async keepPrevious(tx: Queryable, row: Omit<PreviousSecretRow, 'last_used_at'>): Promise<void> {
      await tx.query('INSERT INTO client_previous_secrets (id, client_id, ciphertext, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        row.id,
        row.client_id,
        row.ciphertext,
        row.created_at,
        row.expires_at,
      ]);
    },
    async replaceCurrent(tx: Queryable, clientId: string, ciphertext: string): Promise<void> {
      await tx.query('UPDATE clients SET secret_ciphertext = $2, secret_created_at = now(), updated_at = now() WHERE client_id = $1', [clientId, ciphertext]);
    },
    async currentCreatedAt(clientId: string): Promise<{ secret_created_at: Date | null; created_at: Date; has_secret: boolean } | undefined> {
      const { rows } = await db.query<{ secret_created_at: Date | null; created_at: Date; has_secret: boolean }>(
        'SELECT secret_created_at, created_at, secret_ciphertext IS NOT NULL AS has_secret FROM clients WHERE client_id = $1',
        [clientId],
      );
      return rows[0];
    },
    /** Previous secrets still inside their overlap, newest first. */
    async listLive(clientId: string, now: Date): Promise<PreviousSecretRow[]> {
      const { rows } = await db.query<PreviousSecretRow>('SELECT * FROM client_previous_secrets WHERE client_id = $1 AND expires_at > $2 ORDER BY created_at DESC', [clientId, now]);
      return rows;
    },
    /** Removes the ones whose overlap ended and says which, so each end is audited once (only the deleting node sees the row). */
    async removeExpired(clientId: string, now: Date): Promise<Array<Pick<PreviousSecretRow, 'id' | 'expires_at'>>> {
      const { rows } = await db.query<Pick<PreviousSecretRow, 'id' | 'expires_at'>>(
        'DELETE FROM client_previous_secrets WHERE client_id = $1 AND expires_at <= $2 RETURNING id, expires_at',
        [clientId, now],
      );
      return rows;
    },
    async remove(clientId: string, id: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM client_previous_secrets WHERE client_id = $1 AND id = $2', [clientId, id]);
      return rowCount > 0;
    },
    /** First use only: returns true when this call set last_used_at from NULL. */
    async markUsed(id: string, now: Date): Promise<boolean> {
      const { rows } = await db.query<{ first: boolean }>(
        `UPDATE client_previous_secrets p SET last_used_at = $2
         FROM (SELECT id, last_used_at AS before FROM client_previous_secrets WHERE id = $1 FOR UPDATE) o
         WHERE p.id = o.id RETURNING o.before IS NULL AS first`,
        [id, now],
      );
      return rows[0]?.first ?? false;
    },
    async listSealed(): Promise<Array<Pick<PreviousSecretRow, 'id' | 'client_id' | 'ciphertext'>>> {
      const { rows } = await db.query<Pick<PreviousSecretRow, 'id' | 'client_id' | 'ciphertext'>>('SELECT id, client_id, ciphertext FROM client_previous_secrets');
      return rows;
    },
    async replaceCiphertext(id: string, previous: string, next: string): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE client_previous_secrets SET ciphertext = $3 WHERE id = $1 AND ciphertext = $2', [id, previous, next]);
      return rowCount > 0;
    },
  };
}
