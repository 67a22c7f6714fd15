import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { advisoryLocks, type Db } from './db.js';

/** Works from src/db (tsx) and dist/db (built): both sit two levels below the package root. */
export const migrationsDir = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export async function readMigrations(dir = migrationsDir): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new MigrationError(`migration file name ${file} is not NNNN_name.sql`);
    const sql = await readFile(`${dir}/${file}`, 'utf8');
    migrations.push({
      version: Number(match[1]),
      name: match[2]!,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new MigrationError(`migration ${m.version} out of sequence (expected ${i + 1})`);
  });
  return migrations;
}

export interface MigrationReport {
  applied: Migration[];
  current: number;
}

/**
 * Applies pending migrations in order, each in its own transaction, under an
 * advisory lock so nodes starting together apply each migration exactly once.
 * An applied migration whose file has since changed stops start-up: forward-only
 * means a change is a new file.
 */
export async function migrate(db: Db, options: { onApply?: (m: Migration) => void; dir?: string } = {}): Promise<MigrationReport> {
  const migrations = await readMigrations(options.dir);
  const result = await db.withAdvisoryLock(advisoryLocks.migrate, async () => {
    await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await db.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations ORDER BY version');
    const done = new Map(rows.map((r) => [r.version, r.checksum]));
    for (const [version, checksum] of done) {
      const file = migrations.find((m) => m.version === version);
      if (!file) throw new MigrationError(`database has migration ${version}, which this version of Gatehouse does not know (downgrade?)`);
      if (file.checksum !== checksum) throw new MigrationError(`migration ${version}_${file.name} was edited after it was applied`);
    }
    const applied: Migration[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      options.onApply?.(migration);
      await db.transaction(async (tx) => {
        await tx.exec(migration.sql);
        await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [migration.version, migration.name, migration.checksum]);
      });
      applied.push(migration);
    }
    return { applied, current: migrations.at(-1)?.version ?? 0 };
  });
  if (!result.acquired) throw new MigrationError('could not take the migration lock');
  return result.value;
}

/** Readiness: the database has every migration this build ships. */
export async function pendingMigrations(db: Db): Promise<number> {
  const migrations = await readMigrations();
  try {
    const { rows } = await db.query<{ max: number | null }>('SELECT max(version) AS max FROM schema_migrations');
    return migrations.length - (rows[0]?.max ?? 0);
  } catch {
    return migrations.length;
  }
}
