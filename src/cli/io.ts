/**
 * The terminal a CLI run talks to: its streams and its environment. The
 * process entry (src/cli.ts) binds the real ones; tests bind buffers and a
 * clean environment, so an in-process run reads nothing of the test
 * process's own env or stdin. The binding is scoped to one run through
 * AsyncLocalStorage (as the request facts are for the audit log, see
 * src/audit/log.ts), so parallel runs in one process never see each other's.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

import type { Config } from '../config/index.js';
import type { SecretBox } from '../crypto/secret-box.js';
import type { Db } from '../db/index.js';
import type { MigrationReport } from '../db/migrate.js';
import type { Logger } from '../observability/logger.js';
import type { Services } from '../services.js';

export interface CliInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface CliOutput extends NodeJS.WritableStream {
  isTTY?: boolean;
}

export interface CliIo {
  stdin: CliInput;
  stdout: CliOutput;
  stderr: CliOutput;
  /** What configuration is read from (GATEHOUSE_*, DATABASE_URL). */
  env: NodeJS.ProcessEnv;
  /**
   * The running server's own core, when this run arrived over its local admin
   * socket (src/cli/socket-server.ts): commands use it instead of opening one.
   */
  provided?: ProvidedContext;
}

/** What every CLI action works with (withContext in src/cli/context.ts opens it, or a running server provides it). */
export interface CliContext {
  config: Config;
  log: Logger;
  db: Db;
  services: Services;
  schema: MigrationReport;
  /** For commands that check what the master secret protects (`audit verify`). */
  secrets: SecretBox;
}

/** A CliContext provided by a running server (the local admin socket). */
export type ProvidedContext = CliContext;

/** One run: its terminal, and the global options the program parsed. */
export interface CliRun {
  io: CliIo;
  /** `--verbose`: log lines (security alerts among them) reach the terminal too. */
  verbose: boolean;
}

const runs = new AsyncLocalStorage<CliRun>();

export function withRun<T>(run: CliRun, fn: () => T): T {
  return runs.run(run, fn);
}

export function currentRun(): CliRun {
  const run = runs.getStore();
  if (!run) throw new Error('a CLI action ran outside runCli()');
  return run;
}

export const io = (): CliIo => currentRun().io;
