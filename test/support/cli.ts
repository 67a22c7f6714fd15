/**
 * Runs the real `gatehouse` CLI as a child process against a test database,
 * and opens the same database in-process once the child has exited.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { loadConfig } from '../../src/config/index.js';
import { openDb } from '../../src/db/index.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/observability/logger.js';
import { loadMasterKey, loadPreviousMasterKeys } from '../../src/crypto/master-key.js';
import { createSecretBox } from '../../src/crypto/secret-box.js';
import { createServices, type Services } from '../../src/services.js';
import type { TestDatabase } from './databases.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Only what the CLI should see: the parent's GATEHOUSE_TEST_DB would be an unknown setting. */
export function cliEnv(database: TestDatabase | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'test',
    // Cheap hashing: these tests are about the CLI, not argon2's cost.
    GATEHOUSE_ARGON2_MEMORY_KIB: '1024',
    GATEHOUSE_ARGON2_ITERATIONS: '1',
    ...(database ? { GATEHOUSE_DATA_DIR: database.dataDir } : {}),
    ...(database?.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...extra,
  };
}

export interface CliOptions {
  stdin?: string;
  env?: Record<string, string>;
  /** Sees stdout as it arrives and may return the line to type on stdin (once), as a person at the terminal would. */
  answer?: (stdout: string) => Promise<string | undefined>;
}

export function cli(database: TestDatabase | undefined, args: string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cliPath, ...args], {
      cwd: root,
      env: cliEnv(database, options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let answered = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!options.answer || answered) return;
      void options.answer(stdout).then((line) => {
        if (line === undefined || answered) return;
        answered = true;
        child.stdin.end(`${line}\n`);
      });
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (!options.answer) child.stdin.end(options.stdin ?? '');
  });
}

/** Opens the same database in-process; only ever after the CLI child has exited (PGlite is single-process). */
export async function withServices<T>(
  database: TestDatabase,
  fn: (services: Services, db: Awaited<ReturnType<typeof openDb>>) => Promise<T>,
  env: Record<string, string> = {},
): Promise<T> {
  const config = loadConfig({
    NODE_ENV: 'test',
    GATEHOUSE_DATA_DIR: database.dataDir,
    GATEHOUSE_ARGON2_MEMORY_KIB: '1024',
    GATEHOUSE_ARGON2_ITERATIONS: '1',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...env,
  });
  const log = createLogger('silent');
  const db = await openDb(config, log);
  try {
    await migrate(db);
    const masterKey = await loadMasterKey(config);
    return await fn(createServices(db, config, createSecretBox(masterKey.secret, await loadPreviousMasterKeys(config))), db);
  } finally {
    await db.close();
  }
}
