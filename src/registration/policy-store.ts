import type { Db, Queryable } from '../db/index.js';

export interface PolicyRow {
  name: string;
  rules: Record<string, unknown>;
  description: string | null;
  created_at: Date;
  updated_at: Date;
  /** Bumped by trigger on every UPDATE (migration 0023): the admin API's ETag and compare-and-set. */
  version: number | string;
}

/** restrict_violation (ON DELETE RESTRICT) and foreign_key_violation, as pg and PGlite both report them. */
const stillReferenced = new Set(['23001', '23503']);

/** The registration_policies table's contract. */
export interface PolicyStore {
  upsert(row: Pick<PolicyRow, 'name' | 'rules' | 'description'>): Promise<PolicyRow>;
  /** Compare-and-set on the version: undefined when the policy is gone or was changed since `expectedVersion`. */
  replaceIfVersion(row: Pick<PolicyRow, 'name' | 'rules' | 'description'>, expectedVersion: number): Promise<PolicyRow | undefined>;
  find(name: string, executor?: Queryable): Promise<PolicyRow | undefined>;
  list(): Promise<PolicyRow[]>;
  /** false when no such policy; 'in-use' while a token or a client still refers to it. */
  remove(name: string): Promise<boolean | 'in-use'>;
}

export function createPolicyStore(db: Db): PolicyStore {
  return {
    async upsert(row: Pick<PolicyRow, 'name' | 'rules' | 'description'>): Promise<PolicyRow> {
      const { rows } = await db.query<PolicyRow>(
        `INSERT INTO registration_policies (name, rules, description) VALUES ($1, $2::jsonb, $3)
         ON CONFLICT (name) DO UPDATE SET rules = EXCLUDED.rules, description = EXCLUDED.description, updated_at = now()
         RETURNING *`,
        [row.name, JSON.stringify(row.rules), row.description],
      );
      return rows[0]!;
    },
    async replaceIfVersion(row: Pick<PolicyRow, 'name' | 'rules' | 'description'>, expectedVersion: number): Promise<PolicyRow | undefined> {
      // Of two writers racing with one version, the second re-checks `version = $4` after the first commits (its trigger bumped it) and matches nothing.
      const { rows } = await db.query<PolicyRow>(
        'UPDATE registration_policies SET rules = $2::jsonb, description = $3, updated_at = now() WHERE name = $1 AND version = $4 RETURNING *',
        [row.name, JSON.stringify(row.rules), row.description, expectedVersion],
      );
      return rows[0];
    },
    async find(name: string, executor: Queryable = db): Promise<PolicyRow | undefined> {
      const { rows } = await executor.query<PolicyRow>('SELECT * FROM registration_policies WHERE name = $1', [name]);
      return rows[0];
    },
    async list(): Promise<PolicyRow[]> {
      const { rows } = await db.query<PolicyRow>('SELECT * FROM registration_policies ORDER BY name');
      return rows;
    },
    /** false when no such policy; 'in-use' while a token or a client still refers to it. */
    async remove(name: string): Promise<boolean | 'in-use'> {
      try {
        const { rowCount } = await db.query('DELETE FROM registration_policies WHERE name = $1', [name]);
        return rowCount > 0;
      } catch (error) {
        if (stillReferenced.has(String((error as { code?: unknown }).code))) return 'in-use';
        throw error;
      }
    },
  };
}
