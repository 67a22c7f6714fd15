/**
 * One Gatehouse process per core behind one port: node's cluster module.
 * The primary only forks the workers and hands accepted connections to them
 * round-robin (Linux default); each worker runs exactly `src/main.ts`, with
 * its own pool, caches and audit queue, as separate nodes behind a load
 * balancer would. Chosen over several processes on several ports behind a
 * proxy because it adds no third process on the hot path (a proxy would
 * parse every request again on a 2-core machine) and needs no change to
 * Gatehouse itself; Node 20 has no SO_REUSEPORT for http servers.
 *
 *   BENCH_WORKERS=2 BENCH_WORKER_SCRIPT=.bench-build/main.js node .bench-build/cluster.js
 *   (the same environment as src/main.ts; bench/run.ts compiles both first)
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';

const workers = Number(process.env.BENCH_WORKERS ?? availableParallelism());
const script = process.env.BENCH_WORKER_SCRIPT;
if (!script) throw new Error('BENCH_WORKER_SCRIPT names the compiled main.js each worker runs');
const execArgv = process.env.BENCH_WORKER_EXEC_ARGV ? process.env.BENCH_WORKER_EXEC_ARGV.split(' ') : [];
cluster.setupPrimary({ exec: script, execArgv });

let stopping = false;
const forkOne = (delayMs: number) =>
  setTimeout(() => {
    if (!stopping) cluster.fork();
  }, delayMs);
// Start one at a time: migrations run under a lock anyway, and the key set is created once.
for (let i = 0; i < workers; i += 1) forkOne(i * 1500);
cluster.on('exit', (worker, code) => {
  if (!stopping) process.stderr.write(`worker ${worker.process.pid} exited with ${code}\n`);
  if (Object.keys(cluster.workers ?? {}).length === 0 && stopping) process.exit(0);
});
const stop = () => {
  stopping = true;
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
