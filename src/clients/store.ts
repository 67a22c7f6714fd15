import type { Db } from '../db/index.js';

export interface ClientRow {
  client_id: string;
  metadata: Record<string, unknown>;
  secret_ciphertext: string | null;
  disabled: boolean;
  source: 'cli' | 'registration';
  created_at: Date;
  updated_at: Date;
}

export function createClientStore(db: Db) {
  return {
    async insert(row: Pick<ClientRow, 'client_id' | 'metadata' | 'secret_ciphertext' | 'source'>): Promise<ClientRow> {
      const { rows } = await db.query<ClientRow>(
        'INSERT INTO clients (client_id, metadata, secret_ciphertext, source) VALUES ($1, $2::jsonb, $3, $4) RETURNING *',
        [row.client_id, JSON.stringify(row.metadata), row.secret_ciphertext, row.source],
      );
      return rows[0]!;
    },
    async findById(clientId: string): Promise<ClientRow | undefined> {
      const { rows } = await db.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1', [clientId]);
      return rows[0];
    },
    async list(): Promise<ClientRow[]> {
      const { rows } = await db.query<ClientRow>('SELECT * FROM clients ORDER BY created_at, client_id');
      return rows;
    },
    async remove(clientId: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
      return rowCount > 0;
    },
    async setDisabled(clientId: string, disabled: boolean): Promise<boolean> {
      const { rowCount } = await db.query('UPDATE clients SET disabled = $2, updated_at = now() WHERE client_id = $1', [clientId, disabled]);
      return rowCount > 0;
    },
  };
}

export type ClientStore = ReturnType<typeof createClientStore>;
