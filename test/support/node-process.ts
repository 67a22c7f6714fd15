/**
 * Runs Gatehouse as a separate OS process (exactly what `npm start` runs, via
 * tsx), for tests about several nodes sharing one database.
 */
import { spawn, type ChildProcess } from 'node:child_process';

import { freePort } from './gatehouse.js';

const root = new URL('../..', import.meta.url).pathname;

export interface NodeProcess {
  url: string;
  port: number;
  output(): string;
  /** JSON log lines with this msg. */
  logLines(msg: string): Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  child: ChildProcess;
}

export async function spawnNode(env: Record<string, string>, options: { readyTimeoutMs?: number } = {}): Promise<NodeProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // No mTLS listener unless asked: its development default port (3443) would collide between nodes.
    env: { PATH: process.env.PATH, GATEHOUSE_PORT: String(port), GATEHOUSE_ISSUER: 'http://127.0.0.1:3999', GATEHOUSE_MTLS_PORT: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`node exited during start-up:\n${out}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`node not ready in time:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    port,
    child,
    output: () => out,
    logLines: (msg) =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === msg),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
