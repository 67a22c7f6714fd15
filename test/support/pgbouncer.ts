/**
 * A real PgBouncer (the Debian package, 1.18) in transaction pooling mode as a
 * child process, in front of the test PostgreSQL server: what production often
 * puts between Gatehouse and its database.
 *
 *   const bouncer = await startPgBouncer(postgresAdminUrl(), { poolSize: 2 });
 *   bouncer.url(databaseUrl)   // the same database, through the pooler
 *   await bouncer.stop();
 *
 * Every database of the server is reachable through it (a `*` fallback entry).
 * PgBouncer refuses to run as root, so as root it runs as the `postgres` user
 * that test/support/pg-server.sh runs the server as.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { accepts, freePort } from './ports.js';

export interface PgBouncer {
  port: number;
  /** `databaseUrl` with its host and port replaced by the pooler's. */
  url(databaseUrl: string): string;
  output(): string;
  stop(): Promise<void>;
}

/** The pgbouncer binary: $PGBOUNCER_BIN, else on PATH or in /usr/sbin. */
export function pgbouncerBinary(): string | undefined {
  const candidates = [process.env.PGBOUNCER_BIN, ...(process.env.PATH ?? '').split(':').map((d) => path.join(d, 'pgbouncer')), '/usr/sbin/pgbouncer'];
  return candidates.find((c): c is string => !!c && existsSync(c));
}


export async function startPgBouncer(serverUrl: string, options: { poolSize: number }): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  if (!binary) throw new Error('pgbouncer not found: apt-get install pgbouncer (.ci/run installs it)');
  const server = new URL(serverUrl);
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-pgbouncer-'));
  await chmod(dir, 0o755);
  const user = decodeURIComponent(server.username || 'postgres');
  // auth_type=trust still wants every user named in auth_file.
  await writeFile(path.join(dir, 'users.txt'), `"${user}" ""\n`, { mode: 0o644 });
  await writeFile(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.hostname} port=${server.port || '5432'}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize}`,
      'max_client_conn = 500',
      'ignore_startup_parameters = extra_float_digits',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const asRoot = process.getuid?.() === 0;
  const command = asRoot ? ['/usr/sbin/runuser', '-u', 'postgres', '--', binary] : [binary];
  const child: ChildProcess = spawn(command[0]!, [...command.slice(1), path.join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer did not start:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url(databaseUrl) {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        // SIGINT: "safe shutdown" (waits for clients); SIGKILL if it lingers.
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
