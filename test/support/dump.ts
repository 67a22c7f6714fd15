import type { Db } from '../../src/db/index.js';

/** Every row of every table in the public schema, as text: what an attacker with a database dump sees. */
export async function dumpDatabase(db: Db): Promise<string> {
  const { rows: tables } = await db.query<{ q: string }>(
    "SELECT format('SELECT (t.*)::text AS r FROM %I t', table_name) AS q FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
  );
  const parts: string[] = [];
  for (const { q } of tables) {
    const { rows } = await db.query<{ r: string }>(q);
    parts.push(...rows.map((row) => row.r));
  }
  return parts.join('\n');
}
