/**
 * Two database micro-measurements behind figures in bench/RESULTS.md, on a
 * throwaway PostgreSQL like the main bench's:
 *
 *   npx tsx bench/database.ts            both
 *   npx tsx bench/database.ts audit      client CPU per audited event, 250-event batches
 *   npx tsx bench/database.ts statements server and client CPU of a primary-key
 *                                        lookup, unnamed against prepared
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { pino } from 'pino';

import { createAuditStore } from '../src/audit/store.js';
import { migrate } from '../src/db/migrate.js';
import { openPostgres } from '../src/db/postgres.js';
import { startPostgres } from './processes.js';

const which = process.argv[2];
if (which === '--help' || (which && !['audit', 'statements'].includes(which))) {
  process.stdout.write('usage: npx tsx bench/database.ts [audit|statements]\n');
  process.exit(which === '--help' ? 0 : 2);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-db-'));
chmodSync(dir, 0o755);
const server = startPostgres(path.join(dir, 'pg'));

async function freshDatabase(): Promise<string> {
  const name = `bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server.adminUrl);
  url.pathname = `/${name}`;
  return url.href;
}

async function audit(): Promise<void> {
  const db = openPostgres(await freshDatabase(), { poolMax: 4, log: pino({ level: 'warn' }) });
  await migrate(db);
  const store = createAuditStore(db);
  const key = randomBytes(32);
  const event = () => ({ occurredAt: new Date(), type: 'token.issued', outcome: 'success', actor: 'svc_4f9a8b7c6d5e', subject: 'svc_4f9a8b7c6d5e', clientId: 'svc_4f9a8b7c6d5e', ip: '127.0.0.1', requestId: randomUUID(), node: 'host:12345', detail: { grantType: 'client_credentials', scope: 'read' } });
  const batch = Array.from({ length: 250 }, event);
  for (let i = 0; i < 5; i += 1) await store.append(batch, key);
  const batches = 200;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < batches; i += 1) await store.append(batch, key);
  const used = process.cpuUsage(cpu);
  process.stdout.write(`audit: ${((used.user + used.system) / (batches * batch.length)).toFixed(1)} µs of client CPU per event, ${((performance.now() - started) / batches).toFixed(2)} ms per 250-event batch\n`);
  await db.close();
}

async function statements(): Promise<void> {
  const client = new pg.Client({ connectionString: await freshDatabase() });
  await client.connect();
  await client.query('CREATE TABLE m (model text, id_hash bytea, payload jsonb, expires_at timestamptz, consumed_at timestamptz, PRIMARY KEY (model, id_hash))');
  const ids = Array.from({ length: 1000 }, () => createHash('sha256').update(randomBytes(16)).digest());
  for (const id of ids) await client.query("INSERT INTO m VALUES ('AccessToken', $1, $2, now() + interval '1 hour', null)", [id, { scope: 'read', padding: 'x'.repeat(200) }]);
  const backend = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const serverCpu = () => {
    const stat = readFileSync(`/proc/${backend}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  };
  // The artifact store's lookup (src/artifacts/store.ts).
  const text = 'SELECT payload, consumed_at FROM m WHERE model = $1 AND id_hash = $2 AND (expires_at IS NULL OR expires_at > now())';
  const n = 10_000;
  for (const prepared of [false, true, false, true]) {
    const server0 = serverCpu();
    const client0 = process.cpuUsage();
    for (let i = 0; i < n; i += 1) await client.query({ ...(prepared ? { name: 'lookup' } : {}), text, values: ['AccessToken', ids[i % ids.length]] });
    const used = process.cpuUsage(client0);
    process.stdout.write(`statements: ${prepared ? 'prepared' : 'unnamed '} ${(((serverCpu() - server0) * 1e6) / n).toFixed(0)} µs server CPU, ${((used.user + used.system) / n).toFixed(0)} µs client CPU per lookup\n`);
  }
  await client.end();
}

try {
  if (!which || which === 'audit') await audit();
  if (!which || which === 'statements') await statements();
} finally {
  server.stop();
  rmSync(dir, { recursive: true, force: true });
}
