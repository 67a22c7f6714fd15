/**
 * A PostgreSQL server of the cluster test's own (test/support/pg-server.sh in
 * a temporary directory), so the test can stop it and start it again on the
 * same port, the way a managed database restarts under its clients.
 */
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = new URL('../../support/pg-server.sh', import.meta.url).pathname;

export interface PostgresServer {
  /** Admin URL: postgres://postgres@127.0.0.1:PORT/postgres */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port (the URL every node holds stays valid). */
  start(): Promise<void>;
  remove(): Promise<void>;
}

async function binDir(): Promise<string> {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  try {
    const { stdout } = await run('sh', ['-c', 'command -v pg_ctl']);
    return path.dirname(realpathSync(stdout.trim()));
  } catch {
    const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(a) - Number(b));
    return `/usr/lib/postgresql/${versions.at(-1)}/bin`;
  }
}

export async function startPostgresServer(): Promise<PostgresServer> {
  // Short path: the unix socket lives in this directory.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-cluster-pg-'));
  const { stdout } = await run('bash', [script, 'start', dir]);
  const adminUrl = stdout.trim();
  const port = Number(new URL(adminUrl).port);
  const pgCtl = path.join(await binDir(), 'pg_ctl');
  // pg-server.sh runs PostgreSQL as 'postgres' when we are root; so must a restart.
  const asPostgres = (args: string[]) => (process.getuid?.() === 0 ? run(existsSync('/usr/sbin/runuser') ? '/usr/sbin/runuser' : 'runuser', ['-u', 'postgres', '--', ...args]) : run(args[0]!, args.slice(1)));
  return {
    adminUrl,
    port,
    async stop() {
      await run('bash', [script, 'stop', dir]);
    },
    async start() {
      await asPostgres([pgCtl, 'start', '-s', '-D', path.join(dir, 'data'), '-l', path.join(dir, 'postgres.log'), '-o', `-p ${port}`, '-w', '-t', '60']);
    },
    async remove() {
      await run('bash', [script, 'stop', dir]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
