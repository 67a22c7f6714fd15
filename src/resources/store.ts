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
  updated_at: Date;
  /** Bumped by a trigger on every UPDATE (migration 0014); bigint, so pg may hand it over as a string. */
  version: number | string;
}

export type ResourceSettings = Pick<ResourceRow, 'name' | 'scopes' | 'access_token_ttl' | 'token_format' | 'signing_alg'>;

/** The resource_servers table's contract. */
export interface ResourceStore {
  /** Undefined when the audience is already registered. */
  insert(row: ResourceSettings & Pick<ResourceRow, 'audience' | 'rbac' | 'unheld_scopes' | 'token_claims'>): Promise<ResourceRow | undefined>;
  find(audience: string): Promise<ResourceRow | undefined>;
  list(): Promise<ResourceRow[]>;
  maxAccessTokenTtl(): Promise<number>;
  /** Compare-and-set on the version: undefined when the row is gone or was changed since `expectedVersion`. */
  updateIfVersion(audience: string, settings: ResourceSettings, expectedVersion: number): Promise<ResourceRow | undefined>;
  /** RBAC settings (issue 15); null leaves a column as it is; undefined when no such row. */
  setAccessControl(audience: string, change: { rbac: boolean | null; unheld_scopes: string | null; token_claims: string[] | null }): Promise<ResourceRow | undefined>;
  /** Whether a row was deleted. */
  remove(audience: string): Promise<boolean>;
}

export function createResourceStore(db: Db): ResourceStore {
  return {
    async insert(row) {
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
    async setAccessControl(audience, change) {
      const { rows } = await db.query<ResourceRow>(
        `UPDATE resource_servers SET rbac = COALESCE($2, rbac), unheld_scopes = COALESCE($3, unheld_scopes), token_claims = COALESCE($4::jsonb, token_claims)
         WHERE audience = $1 RETURNING *`,
        [audience, change.rbac, change.unheld_scopes, change.token_claims === null ? null : JSON.stringify(change.token_claims)],
      );
      return rows[0];
    },
    // The second of two racing writers re-checks `version = $7` after the first commits, and matches nothing.
    async updateIfVersion(audience, settings, expectedVersion) {
      const { rows } = await db.query<ResourceRow>(
        `UPDATE resource_servers SET name = $2, scopes = $3::jsonb, access_token_ttl = $4, token_format = $5, signing_alg = $6, updated_at = now()
         WHERE audience = $1 AND version = $7 RETURNING *`,
        [audience, settings.name, JSON.stringify(settings.scopes), settings.access_token_ttl, settings.token_format, settings.signing_alg, expectedVersion],
      );
      return rows[0];
    },
    async remove(audience: string): Promise<boolean> {
      const { rowCount } = await db.query('DELETE FROM resource_servers WHERE audience = $1', [audience]);
      return rowCount > 0;
    },
  };
}
