/**
 * The processes a benchmark measures: Gatehouse (one process, or one per core
 * through bench/cluster.ts), the raw-library baseline, and a throwaway
 * PostgreSQL. Resource use is read from /proc, summed over a process tree.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../test/support/ports.js';

export { freePort };

export const root = new URL('../', import.meta.url).pathname;
/**
 * Where the bench compiles Gatehouse (tsc, as `npm run build` does) and its own
 * servers (esbuild, no bundling): processes run plain JavaScript, as in
 * production, not through tsx. A direct child of the checkout, because
 * src/ finds views/ and migrations/ at `../../` from its modules.
 */
export const buildDir = path.join(root, '.bench-build');

export function compile(): void {
  const tsc = spawnSync(path.join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--outDir', buildDir], { cwd: root, stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error('tsc failed: the bench measures the compiled server');
  const files = ['bench/baseline-server.ts', 'bench/cluster.ts'];
  const esbuild = spawnSync(path.join(root, 'node_modules/.bin/esbuild'), [...files, '--format=esm', '--platform=node', `--outdir=${path.join(buildDir, 'bench')}`], { cwd: root, stdio: 'inherit' });
  if (esbuild.status !== 0) throw new Error('esbuild failed');
}


export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Running {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function waitReady(child: ChildProcess, url: string, log: string, times = 1): Promise<void> {
  const deadline = Date.now() + 60_000;
  let ok = 0;
  while (ok < times) {
    if (child.exitCode !== null) throw new Error(`process exited during start-up; see ${log}`);
    try {
      if ((await fetch(url, { headers: { connection: 'close' } })).ok) ok += 1;
      else await sleep(200);
    } catch {
      await sleep(200);
    }
    if (Date.now() > deadline) throw new Error(`not ready in time; see ${log}`);
  }
}

function stopper(child: ChildProcess) {
  return async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
}

/** The node flags `npm start` runs Gatehouse with (package.json), so the bench measures the same process. */
export function startFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
  return scripts.start.split(' ').filter((word) => word.startsWith('--'));
}

export async function startGatehouse(options: { env: Record<string, string>; port: number; workers: number; logFile: string; nodeArgs?: string[] }): Promise<Running> {
  const out = openSync(options.logFile, 'a');
  const main = path.join(buildDir, 'main.js');
  const nodeArgs = [...startFlags(), ...(options.nodeArgs ?? [])];
  const env = { PATH: process.env.PATH ?? '', ...options.env, GATEHOUSE_PORT: String(options.port), BENCH_WORKERS: String(options.workers), BENCH_WORKER_SCRIPT: main, BENCH_WORKER_EXEC_ARGV: nodeArgs.join(' ') };
  const args = options.workers > 1 ? [path.join(buildDir, 'bench/cluster.js')] : [...nodeArgs, main];
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', out, out] });
  const url = `http://127.0.0.1:${options.port}`;
  // Each worker answers /readyz only once it is up; ask often enough to have met each.
  await waitReady(child, `${url}/readyz`, options.logFile, options.workers * 4);
  if (options.workers > 1) await sleep(options.workers * 1500);
  return { url, child, stop: stopper(child) };
}

export async function startBaseline(options: { port: number; clientId: string; clientSecret: string; audience: string; logFile: string; nodeArgs?: string[] }): Promise<Running> {
  const out = openSync(options.logFile, 'a');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), path.join(buildDir, 'bench/baseline-server.js'), String(options.port), options.clientId, options.clientSecret, options.audience], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'development' },
    stdio: ['ignore', out, out],
  });
  const url = `http://127.0.0.1:${options.port}`;
  await waitReady(child, `${url}/.well-known/openid-configuration`, options.logFile);
  return { url, child, stop: stopper(child) };
}

/** A throwaway PostgreSQL from test/support/pg-server.sh; returns its admin URL. */
export function startPostgres(dir: string): { adminUrl: string; pid: number; stop(): void } {
  const script = path.join(root, 'test/support/pg-server.sh');
  const started = spawnSync(script, ['start', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (started.status !== 0) throw new Error('could not start PostgreSQL (test/support/pg-server.sh)');
  // The postmaster's pid heads postmaster.pid; its children are the backends.
  const pid = Number(readFileSync(path.join(dir, 'data/postmaster.pid'), 'utf8').split('\n')[0]);
  return { adminUrl: started.stdout.trim(), pid, stop: () => void spawnSync(script, ['stop', dir], { stdio: 'ignore' }) };
}

const clockTicks = 100;
const pageSize = 4096;

function descendants(pid: number): number[] {
  const all = [pid];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ') : []) all.push(...descendants(Number(child)));
    }
  } catch {
    // gone
  }
  return all;
}

function stat(pid: number): { cpuSeconds: number; rssBytes: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime 15, rss 24.
    return { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / clockTicks, rssBytes: Number(fields[21]) * pageSize };
  } catch {
    return undefined;
  }
}

export interface Usage {
  /** CPU seconds the process tree used during the window. */
  cpuSeconds: number;
  /** Largest resident set of any one process in the tree. */
  peakRssBytes: number;
}

/** Samples a process tree (every 200 ms) until stopped. */
export function sampleUsage(pid: number): { stop(): Usage } {
  const startCpu = new Map<number, number>();
  const lastCpu = new Map<number, number>();
  let peak = 0;
  const tick = () => {
    for (const p of descendants(pid)) {
      const s = stat(p);
      if (!s) continue;
      if (!startCpu.has(p)) startCpu.set(p, s.cpuSeconds);
      lastCpu.set(p, s.cpuSeconds);
      peak = Math.max(peak, s.rssBytes);
    }
  };
  tick();
  const timer = setInterval(tick, 200);
  return {
    stop() {
      clearInterval(timer);
      tick();
      let cpu = 0;
      for (const [p, last] of lastCpu) cpu += last - (startCpu.get(p) ?? last);
      return { cpuSeconds: cpu, peakRssBytes: peak };
    },
  };
}
