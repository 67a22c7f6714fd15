import { mkdir, open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

import { PGlite } from '@electric-sql/pglite';

import type { Db, Queryable, QueryResult, SqlValue } from './db.js';
import { seedFromTemplate } from './embedded-template.js';

interface PgliteLike {
  query<Row>(sql: string, params?: unknown[]): Promise<{ rows: Row[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
}

function queryable(pglite: PgliteLike): Queryable {
  return {
    async query<Row>(sql: string, params: readonly SqlValue[] = []): Promise<QueryResult<Row>> {
      const result = await pglite.query<Row>(sql, params as unknown[]);
      return { rows: result.rows, rowCount: result.affectedRows || result.rows.length };
    },
    async exec(script: string) {
      await pglite.exec(script);
    },
  };
}

export class EmbeddedLockError extends Error {
  override name = 'EmbeddedLockError';
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite has no lock of its own, and two processes writing one data directory
 * corrupt it (the CLI while the server runs, say). A pid file taken with O_EXCL
 * makes the second one fail with a message instead; a stale file left by a
 * killed process is taken over.
 */
async function lockDataDir(file: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) {
        throw new EmbeddedLockError(`the embedded database in ${path.dirname(file)} is in use by process ${pid}; stop it first (the embedded database serves one process: use PostgreSQL, DATABASE_URL, for more)`);
      }
      await rm(file, { force: true });
    }
  }
  throw new EmbeddedLockError(`could not lock the embedded database in ${path.dirname(file)}`);
}

/**
 * The zero-setup default: PostgreSQL compiled to WebAssembly, in-process, on
 * disk under the data directory. One process only, so advisory locks are an
 * in-process queue and notifications never leave the process.
 */
const sharedBuffers = '16MB';

export async function openEmbedded(dataDir: string): Promise<Db> {
  const dir = path.join(dataDir, 'pglite');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const unlock = await lockDataDir(path.join(dataDir, 'embedded.lock'));
  // A first start copies the install-time template instead of running initdb (./embedded-template.ts).
  await seedFromTemplate(dir).catch(async (error: unknown) => {
    await unlock();
    throw error;
  });
  // PostgreSQL's default 128 MB of shared buffers live inside the WebAssembly heap, which never
  // shrinks; a single-process identity provider's working set is a small fraction of that.
  const startParams = [...PGlite.defaultStartParams, '-c', `shared_buffers=${sharedBuffers}`];
  const pglite = await PGlite.create(dir, { startParams }).catch(async (error: unknown) => {
    await unlock();
    throw error;
  });
  const locks = new Map<number, Promise<unknown>>();
  // Holders plus waiters per lock, counted synchronously so a no-wait caller
  // sees a lock as taken the moment another caller asked for it.
  const claims = new Map<number, number>();

  return {
    kind: 'embedded',
    ...queryable(pglite),
    transaction: (fn) => pglite.transaction((tx) => fn(queryable(tx))),
    async withAdvisoryLock(lockId, fn, { wait = true } = {}) {
      if (!wait && (claims.get(lockId) ?? 0) > 0) return { acquired: false };
      claims.set(lockId, (claims.get(lockId) ?? 0) + 1);
      const previous = locks.get(lockId) ?? Promise.resolve();
      const run = previous.catch(() => undefined).then(async () => {
        try {
          return await fn();
        } finally {
          claims.set(lockId, (claims.get(lockId) ?? 1) - 1);
        }
      });
      locks.set(lockId, run);
      return { acquired: true, value: await run };
    },
    async listen(channel, onPayload) {
      const unsubscribe = await pglite.listen(channel, onPayload);
      return async () => unsubscribe();
    },
    async notify(channel, payload) {
      await pglite.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },
    async ping() {
      try {
        await pglite.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await pglite.close();
      await unlock();
    },
  };
}
