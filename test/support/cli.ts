/**
 * Runs `gatehouse` commands against a test database: in-process by default
 * (the real program, src/cli/program.ts, with buffers for its terminal and a
 * clean environment), or as a real child process with `{ process: true }`
 * for the smoke tests of the entry itself. `withServices` opens the same
 * database through the composition root once the command has finished.
 */
import { spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import { runCli } from '../../src/cli/program.js';
import { loadConfig } from '../../src/config/index.js';
import { openCore } from '../../src/core.js';
import type { Db } from '../../src/db/index.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Services } from '../../src/services.js';
import type { TestDatabase } from './databases.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
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
  /** A real `node src/cli.ts` child (5–13 s each on the CI machines): for the entry's own smoke tests only. */
  process?: boolean;
}

/** Collects what is written, and tells a listener as it arrives. */
function capture(onWrite: (all: string) => void = () => {}): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      onWrite(text);
      callback();
    },
  });
  return { stream, text: () => text };
}

export async function cli(database: TestDatabase | undefined, args: string[], options: CliOptions = {}): Promise<CliResult> {
  if (options.process) return cliProcess(database, args, options);
  const stdin = new PassThrough();
  let answered = false;
  const stdout = capture((all) => {
    if (!options.answer || answered) return;
    void options.answer(all).then((line) => {
      if (line === undefined || answered) return;
      answered = true;
      stdin.end(`${line}\n`);
    });
  });
  const stderr = capture();
  if (!options.answer) stdin.end(options.stdin ?? '');
  const code = await runCli(args, { stdin, stdout: stdout.stream, stderr: stderr.stream, env: cliEnv(database, options.env) });
  if (!answered) stdin.end();
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function cliProcess(database: TestDatabase | undefined, args: string[], options: CliOptions): Promise<CliResult> {
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

/** Opens the same database through the composition root; only ever after the command has finished (PGlite is single-process). */
export async function withServices<T>(database: TestDatabase, fn: (services: Services, db: Db) => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const config = loadConfig({
    NODE_ENV: 'test',
    GATEHOUSE_DATA_DIR: database.dataDir,
    GATEHOUSE_ARGON2_MEMORY_KIB: '1024',
    GATEHOUSE_ARGON2_ITERATIONS: '1',
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    ...env,
  });
  const core = await openCore(config, createLogger('silent'));
  try {
    return await fn(core.services, core.db);
  } finally {
    await core.close();
  }
}
