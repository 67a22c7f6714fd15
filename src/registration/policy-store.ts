import type { Db, Queryable } from '../db/index.js';

export interface PolicyRow {
  name: string;
  rules: Record<string, unknown>;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

/** restrict_violation (ON DELETE RESTRICT) and foreign_key_violation, as pg and PGlite both report them. */
const stillReferenced = new Set(['23001', '23503']);

/** The registration_policies table's contract. */
export interface PolicyStore {
  upsert(row: Pick<PolicyRow, 'name' | 'rules' | 'description'>): Promise<PolicyRow>;
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
