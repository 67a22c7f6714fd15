/** console_sessions: the console's server-side sessions, by the SHA-256 of their cookie value. */
import type { Db } from '../db/index.js';

export interface ConsoleSessionRow {
  account_id: string;
  token_sealed: string;
  auth_time: Date;
  expires_at: Date;
}

export function createConsoleSessionStore(db: Db) {
  return {
    async insert(idHash: Buffer, row: ConsoleSessionRow): Promise<void> {
      await db.query('INSERT INTO console_sessions (id_hash, account_id, token_sealed, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)', [idHash, row.account_id, row.token_sealed, row.auth_time, row.expires_at]);
    },
    async findLive(idHash: Buffer): Promise<ConsoleSessionRow | undefined> {
      const { rows } = await db.query<ConsoleSessionRow>('SELECT account_id, token_sealed, auth_time, expires_at FROM console_sessions WHERE id_hash = $1 AND expires_at > now()', [idHash]);
      return rows[0];
    },
    async delete(idHash: Buffer): Promise<boolean> {
      return (await db.query('DELETE FROM console_sessions WHERE id_hash = $1', [idHash])).rowCount === 1;
    },
    async deleteExpired(batchSize: number): Promise<number> {
      const { rowCount } = await db.query('DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM console_sessions WHERE expires_at <= now() LIMIT $1)', [batchSize]);
      return rowCount;
    },
  };
}
