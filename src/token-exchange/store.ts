import type { Db } from '../db/index.js';

export interface ExchangePolicyRow {
  client_id: string;
  audiences: string[];
  may_impersonate: boolean;
  max_lifetime_seconds: number;
  updated_at: Date;
}

const columns = 'client_id, audiences, may_impersonate, max_lifetime_seconds, updated_at';

/** The token_exchange_policies table: one row per client allowed to exchange tokens. */
export function createExchangePolicyStore(db: Db) {
  return {
    async find(clientId: string): Promise<ExchangePolicyRow | undefined> {
      const { rows } = await db.query<ExchangePolicyRow>(`SELECT ${columns} FROM token_exchange_policies WHERE client_id = $1`, [clientId]);
      return rows[0];
    },
    async list(): Promise<ExchangePolicyRow[]> {
      const { rows } = await db.query<ExchangePolicyRow>(`SELECT ${columns} FROM token_exchange_policies ORDER BY client_id`);
      return rows;
    },
    async upsert(row: { clientId: string; audiences: readonly string[]; mayImpersonate: boolean; maxLifetimeSeconds: number }): Promise<ExchangePolicyRow> {
      const { rows } = await db.query<ExchangePolicyRow>(
        `INSERT INTO token_exchange_policies (client_id, audiences, may_impersonate, max_lifetime_seconds) VALUES ($1, $2::jsonb, $3, $4)
         ON CONFLICT (client_id) DO UPDATE SET audiences = EXCLUDED.audiences, may_impersonate = EXCLUDED.may_impersonate,
           max_lifetime_seconds = EXCLUDED.max_lifetime_seconds, updated_at = now()
         RETURNING ${columns}`,
        [row.clientId, JSON.stringify(row.audiences), row.mayImpersonate, row.maxLifetimeSeconds],
      );
      return rows[0]!;
    },
    async remove(clientId: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM token_exchange_policies WHERE client_id = $1', [clientId]);
      return rowCount > 0;
    },
  };
}
