/** The resource_servers table: plain parameterised SQL, nothing else. */
import type { Db } from '../db/index.js';

export interface ResourceRow {
  audience: string;
  name: string;
  scopes: string[];
  access_token_ttl: number;
  token_format: 'jwt' | 'opaque';
  signing_alg: string;
  rbac: boolean;
  unheld_scopes: 'drop' | 'refuse';
  token_claims: Array<'roles' | 'groups'>;
  created_at: Date;
}

export function createResourceStore(db: Db) {
  return {
    /** Undefined when the audience is already registered. */
    async insert(row: Omit<ResourceRow, 'created_at'>): Promise<ResourceRow | undefined> {
      const { rows } = await db.query<ResourceRow>(
        `INSERT INTO resource_servers (audience, name, scopes, access_token_ttl, token_format, signing_alg, rbac, unheld_scopes, token_claims)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9::jsonb) ON CONFLICT (audience) DO NOTHING RETURNING *`,
        [row.audience, row.name, JSON.stringify(row.scopes), row.access_token_ttl, row.token_format, row.signing_alg, row.rbac, row.unheld_scopes, JSON.stringify(row.token_claims)],
      );
      return rows[0];
    },
    async find(audience: string): Promise<ResourceRow | undefined> {
      const { rows } = await db.query<ResourceRow>('SELECT * FROM resource_servers WHERE audience = $1', [audience]);
      return rows[0];
    },
    async list(): Promise<ResourceRow[]> {
      const { rows } = await db.query<ResourceRow>('SELECT * FROM resource_servers ORDER BY audience');
      return rows;
    },
    async maxAccessTokenTtl(): Promise<number> {
      const { rows } = await db.query<{ max: number | null }>('SELECT max(access_token_ttl) AS max FROM resource_servers');
      return rows[0]?.max ?? 0;
    },
    /** Null leaves a column as it is; undefined when no such row. */
    async setAccessControl(audience: string, change: { rbac: boolean | null; unheld_scopes: string | null; token_claims: string[] | null }): Promise<ResourceRow | undefined> {
      const { rows } = await db.query<ResourceRow>(
        `UPDATE resource_servers SET rbac = COALESCE($2, rbac), unheld_scopes = COALESCE($3, unheld_scopes), token_claims = COALESCE($4::jsonb, token_claims)
         WHERE audience = $1 RETURNING *`,
        [audience, change.rbac, change.unheld_scopes, change.token_claims === null ? null : JSON.stringify(change.token_claims)],
      );
      return rows[0];
    },
    /** Whether a row was deleted. */
    async remove(audience: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM resource_servers WHERE audience = $1', [audience]);
      return rowCount > 0;
    },
  };
}

export type ResourceStore = ReturnType<typeof createResourceStore>;
