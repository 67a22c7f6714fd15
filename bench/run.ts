/**
 * `npm run bench` — every scenario on every configuration; `npm run bench --
 * SCENARIO…` — only those. Options: `--configs postgres-1,postgres-N,embedded-1,pgbouncer-1`,
 * `--seconds N` (per measured run), `--profile` (CPU profile of the
 * client-credentials path on PostgreSQL, summarised; see bench/profile.ts).
 *
 * Gatehouse runs as it does in production (src/main.ts, rate limiting, audit
 * and metrics on, JSON logs to a file), against a throwaway PostgreSQL
 * (test/support/pg-server.sh) or the embedded database. The raw library
 * (bench/baseline-server.ts) is measured in the same invocation, alternately
 * with Gatehouse (A B A B), so the ratio survives a noisy machine.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { pino } from 'pino';

import { loadConfig } from '../src/config/index.js';
import { operator } from '../src/audit/events.js';
import { openCore } from '../src/core.js';
import { createCertificateAuthority, issueCertificate } from '../src/tls/pki.js';
import { signInThroughPages, UserAgent } from '../test/support/user-agent.js';
import { latencyChart, type Curve } from './chart.js';
import { dpopHammer, hammer, paced, signIns, type HttpRequest, type Measurement } from './load.js';
import { compareProfiles, summariseProfile } from './profile.js';
import { compile, freePort, root, startBaseline, startGatehouse, startPostgres, type Running } from './processes.js';
import { signingCeiling } from './signing.js';
import { startPgBouncer, type PgBouncer } from '../test/support/pgbouncer.js';

const scenarioNames = ['client-credentials', 'rbac-client-credentials', 'admin-polling', 'dpop-client-credentials', 'mtls-client-credentials', 'authorization-code', 'refresh', 'introspection', 'jwks', 'discovery'] as const;
type Scenario = (typeof scenarioNames)[number];
const cores = os.availableParallelism();
// pgbouncer-1: one process on PostgreSQL through PgBouncer in transaction mode (unprepared statements; docs/operations.md).
const configNames = ['postgres-1', `postgres-${cores}`, 'embedded-1', 'pgbouncer-1'];

const argv = process.argv.slice(2);
const option = (name: string) => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const [value] = argv.splice(i, 2).slice(1);
  return value;
};
const flag = (name: string) => {
  const i = argv.indexOf(name);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
};
const seconds = Number(option('--seconds') ?? 8);
const configs = (option('--configs') ?? configNames.join(',')).split(',');
const profile = flag('--profile');
for (const name of argv) if (!(scenarioNames as readonly string[]).includes(name)) throw new Error(`unknown scenario ${name}; one of ${scenarioNames.join(', ')}`);
const scenarios: Scenario[] = argv.length ? (argv as Scenario[]) : [...scenarioNames];
const connections = 16;
/** Sign-ins in flight at once, each on its own account; argon2id runs on libuv's 4 threads. */
const signInConcurrency = 8;
const audience = 'https://api.bench.test';
/** The same resource server with RBAC on: the service client holds `read` through a role (issue 15's bench). */
const rbacAudience = 'https://rbac-api.bench.test';
const runDir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-'));
// PostgreSQL runs as its own OS user when we are root (test/support/pg-server.sh): it must reach its directory.
chmodSync(runDir, 0o755);
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = { 'content-type': 'application/x-www-form-urlencoded' };

interface Row {
  scenario: string;
  config: string;
  target: 'Gatehouse' | 'raw oidc-provider';
  m: Measurement;
  ratio?: number;
}
const rows: Row[] = [];
const curves: Curve[] = [];
const notes: string[] = [];

interface Seeded {
  /** An initial access token for registering the mTLS client. */
  iat: string;
  service: { clientId: string; clientSecret: string };
  dpopService: { clientId: string; clientSecret: string };
  web: { clientId: string; clientSecret: string; redirectUri: string };
  users: Array<{ username: string; password: string }>;
  /** A service client with admin read scopes, for the admin-polling scenario. */
  admin: { clientId: string; clientSecret: string };
}

function gatehouseEnv(config: string, dataDir: string, databaseUrl: string | undefined, port: number, caFile: string): Record<string, string> {
  const unlimited = 'ip=1000000/1m,client=1000000/1m';
  return {
    NODE_ENV: 'development',
    GATEHOUSE_ISSUER: `http://127.0.0.1:${port}`,
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_MASTER_KEY: masterKey,
    GATEHOUSE_LOG_LEVEL: 'info',
    // Rate limiting stays on (every request is counted, per IP and per client) with budgets a benchmark never exhausts.
    GATEHOUSE_RATE_LIMITING: 'true',
    GATEHOUSE_RATE_LIMIT_TOKEN: unlimited,
    GATEHOUSE_RATE_LIMIT_AUTHORIZATION: unlimited,
    GATEHOUSE_RATE_LIMIT_INTROSPECTION: unlimited,
    GATEHOUSE_RATE_LIMIT_INTERACTION: 'ip=1000000/1m,client=off',
    GATEHOUSE_METRICS_TOKEN: randomBytes(24).toString('base64url'),
    GATEHOUSE_MTLS_PORT: '0',
    GATEHOUSE_MTLS_CA_FILE: caFile,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, GATEHOUSE_DB_POOL_MAX: '10' } : {}),
    ...(config.startsWith('embedded') ? {} : {}),
  };
}
const masterKey = randomBytes(32).toString('base64url');

async function seed(env: Record<string, string>): Promise<Seeded> {
  const config = loadConfig(env);
  const core = await openCore(config, pino({ level: 'warn' }));
  try {
    const { services } = core;
    await services.resources.add(operator, { rbac: false, audience, name: 'Bench API', scopes: ['read', 'write'], accessTokenTtl: 300 });
    const service = await services.clients.create(operator, { type: 'service', name: 'Bench worker' });
    await services.resources.add(operator, { rbac: true, audience: rbacAudience, name: 'Bench API with RBAC', scopes: ['read', 'write'], accessTokenTtl: 300 });
    await services.rbac.createRole(operator, { name: 'bench-reader', permissions: [{ audience: rbacAudience, scope: 'read' }] });
    await services.rbac.assign(operator, 'bench-reader', { kind: 'client', id: service.client.clientId });
    const dpopService = await services.clients.create(operator, { type: 'service', name: 'Bench DPoP worker', dpopBoundTokens: true });
    const redirectUri = 'http://127.0.0.1:9/callback';
    const web = await services.clients.create(operator, { type: 'confidential', name: 'Bench web app', redirectUris: [redirectUri], firstParty: true });
    const admin = await services.clients.create(operator, { type: 'service', name: 'Bench admin poller', scope: 'admin:users.read admin:audit.read' });
    const users = Array.from({ length: signInConcurrency }, (_, i) => ({ username: `bench${i}`, password: `correct horse battery staple ${i}` }));
    for (const user of users) await services.accounts.create(operator, { username: user.username, email: `${user.username}@example.test`, emailVerified: true, name: user.username, password: user.password });
    await services.registrationPolicies.set(operator, 'bench-mtls', { grantTypes: ['client_credentials'], authMethods: ['tls_client_auth'], defaultAuthMethod: 'tls_client_auth', resources: [audience] });
    // Made now: the embedded database cannot be opened beside the running server.
    const { value: iat } = await services.initialAccessTokens.create(operator, { expiresInSeconds: 3600, policy: 'bench-mtls', maxUses: 1 });
    return {
      iat,
      service: { clientId: service.client.clientId, clientSecret: service.clientSecret! },
      dpopService: { clientId: dpopService.client.clientId, clientSecret: dpopService.clientSecret! },
      web: { clientId: web.client.clientId, clientSecret: web.clientSecret!, redirectUri },
      users,
      admin: { clientId: admin.client.clientId, clientSecret: admin.clientSecret! },
    };
  } finally {
    await core.close();
  }
}

/** Registers a tls_client_auth service client through dynamic registration (the only way to make one). */
async function registerMtlsClient(iat: string, issuer: string): Promise<string> {
  const response = await fetch(`${issuer}/reg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${iat}`, 'content-type': 'application/json' },
    body: JSON.stringify({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=bench-worker,O=Bench', tls_client_certificate_bound_access_tokens: true, client_name: 'Bench mTLS worker' }),
  });
  const body = (await response.json()) as { client_id?: string };
  if (response.status !== 201 || !body.client_id) throw new Error(`mTLS client registration answered ${response.status}: ${JSON.stringify(body)}`);
  return body.client_id;
}

async function obtain(issuer: string, body: Record<string, string>, authorization: string): Promise<Record<string, string>> {
  const response = await fetch(`${issuer}/token`, { method: 'POST', headers: { ...form, authorization }, body: new URLSearchParams(body) });
  const json = (await response.json()) as Record<string, string>;
  if (!response.ok) throw new Error(`token request answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

async function refreshToken(issuer: string, s: Seeded): Promise<string> {
  const { createHash } = await import('node:crypto');
  const verifier = randomBytes(32).toString('base64url');
  const auth = new URL('/auth', issuer);
  auth.search = new URLSearchParams({
    client_id: s.web.clientId, response_type: 'code', redirect_uri: s.web.redirectUri, scope: 'openid offline_access', prompt: 'consent', state: 'bench',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  }).toString();
  const callback = new URL(await signInThroughPages(new UserAgent(), issuer, auth.href, s.users[0]!));
  const tokens = await obtain(issuer, { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: s.web.redirectUri, code_verifier: verifier }, basic(s.web.clientId, s.web.clientSecret));
  if (!tokens.refresh_token) throw new Error('no refresh token');
  return tokens.refresh_token;
}

const log = (text: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
const fmt = (m: Measurement) => `${Math.round(m.requestsPerSecond)} req/s p50 ${m.p50} p99 ${m.p99} ms errors ${m.errors} cpu ${(m.usage.cpuSeconds / m.seconds).toFixed(2)} rss ${Math.round(m.usage.peakRssBytes / 2 ** 20)} MB`;

function mean(ms: Measurement[]): Measurement {
  const avg = (f: (m: Measurement) => number) => ms.reduce((a, m) => a + f(m), 0) / ms.length;
  return {
    requestsPerSecond: avg((m) => m.requestsPerSecond),
    p50: avg((m) => m.p50),
    p90: avg((m) => m.p90),
    p99: avg((m) => m.p99),
    errors: ms.reduce((a, m) => a + m.errors, 0),
    total: ms.reduce((a, m) => a + m.total, 0),
    usage: { cpuSeconds: ms.reduce((a, m) => a + m.usage.cpuSeconds, 0), peakRssBytes: Math.max(...ms.map((m) => m.usage.peakRssBytes)) },
    generatorCpuSeconds: ms.reduce((a, m) => a + m.generatorCpuSeconds, 0),
    dbCpuSeconds: ms.reduce((a, m) => a + m.dbCpuSeconds, 0),
    seconds: ms.reduce((a, m) => a + m.seconds, 0),
  };
}

/** Requests each side served while profiled, to express its profile per request. */
const served = { raw: 0, gatehouse: 0 };
const profileDir = (side: keyof typeof served) => path.join(root, 'bench/profiles', side);
const profilerArgs = (side: keyof typeof served) => ['--cpu-prof', `--cpu-prof-dir=${profileDir(side)}`];

/** A B A B: the raw library, then Gatehouse, twice; each the mean of its runs. */
async function alternate(
  scenario: string,
  config: string,
  baseline: Running | undefined,
  baselineRequest: HttpRequest | undefined,
  gatehouse: Running,
  request: HttpRequest,
  rounds: number,
  extra: { tlsOptions?: object; base?: string; dpop?: boolean; duringGatehouse?: () => () => Promise<void> } = {},
) {
  const a: Measurement[] = [];
  const b: Measurement[] = [];
  // DPoP requests carry a fresh proof each, signed for the URL they are sent to.
  const load = (base: string, r: HttpRequest, o: Parameters<typeof hammer>[2]) => (extra.dpop ? dpopHammer(base, { ...r, htu: `${base}${r.path}` }, o) : hammer(base, r, o));
  for (let i = 0; i < rounds; i += 1) {
    if (baseline && baselineRequest) {
      a.push(await load(baseline.url, baselineRequest, { pid: baseline.child.pid!, connections, seconds }));
      log(`  A raw     ${fmt(a.at(-1)!)}`);
    }
    const stopSideLoad = extra.duringGatehouse?.();
    b.push(await load(extra.base ?? gatehouse.url, request, { pid: gatehouse.child.pid!, dbPid: config.startsWith('postgres') ? dbPid : undefined, connections, seconds, ...(extra.tlsOptions ? { tlsOptions: extra.tlsOptions } : {}) }));
    await stopSideLoad?.();
    log(`  B ${config.padEnd(7)} ${fmt(b.at(-1)!)}`);
  }
  const g = mean(b);
  const raw = a.length ? mean(a) : undefined;
  served.gatehouse += g.total;
  served.raw += raw?.total ?? 0;
  if (raw) rows.push({ scenario, config, target: 'raw oidc-provider', m: raw });
  rows.push({ scenario, config, target: 'Gatehouse', m: g, ...(raw ? { ratio: g.requestsPerSecond / raw.requestsPerSecond } : {}) });
  return { gatehouse: g, raw };
}

async function sweep(label: string, target: Running, request: HttpRequest, max: number): Promise<Curve> {
  const points = [];
  for (const fraction of [0.1, 0.25, 0.5, 0.75, 0.9, 1.1]) {
    const m = await paced(target.url, request, { pid: target.child.pid!, connections, seconds: Math.max(3, Math.round(seconds / 2)), rate: fraction * max });
    log(`  ${label} at ${Math.round(fraction * max)}/s offered: ${fmt(m)}`);
    points.push({ offered: fraction * max, achieved: m.requestsPerSecond, p50: m.p50, p99: m.p99 });
  }
  return { label, points };
}

let dbPid: number | undefined;

async function runConfig(config: string, baseline: Running, pgAdmin: () => string) {
  // Each configuration is a new Gatehouse process with its own profile; the raw one lives throughout.
  served.gatehouse = 0;
  const workers = Number(config.split('-')[1]);
  const kind = config.split('-')[0]!;
  const dataDir = mkdtempSync(path.join(runDir, `${config}-`));
  let databaseUrl: string | undefined;
  let bouncer: PgBouncer | undefined;
  if (kind === 'postgres' || kind === 'pgbouncer') {
    const name = `gatehouse_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: pgAdmin() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(pgAdmin());
    url.pathname = `/${name}`;
    databaseUrl = url.href;
  }
  const port = await freePort();
  const ca = await createCertificateAuthority('CN=Bench CA,O=Bench');
  const worker = await issueCertificate({ subject: 'CN=bench-worker,O=Bench', usage: 'client', issuer: ca });
  const caFile = path.join(dataDir, 'bench-ca.pem');
  writeFileSync(caFile, ca.certificatePem);
  if (kind === 'pgbouncer') bouncer = await startPgBouncer(pgAdmin(), { poolSize: 10 });
  const env = {
    ...gatehouseEnv(config, dataDir, bouncer && databaseUrl ? bouncer.url(databaseUrl) : databaseUrl, port, caFile),
    ...(bouncer && databaseUrl ? { GATEHOUSE_DATABASE_POOLER: 'transaction', GATEHOUSE_DATABASE_DIRECT_URL: databaseUrl } : {}),
  };
  const seeded = await seed(env);
  const nodeArgs = profile ? profilerArgs('gatehouse') : [];
  log(`${config}: starting Gatehouse (${workers} process${workers > 1 ? 'es' : ''})`);
  const gatehouse = await startGatehouse({ env, port, workers, logFile: path.join(dataDir, 'gatehouse.log'), nodeArgs });
  try {
    const issuer = gatehouse.url;
    const ccBody = new URLSearchParams({ grant_type: 'client_credentials', resource: audience, scope: 'read' }).toString();
    const cc: HttpRequest = { path: '/token', method: 'POST', headers: { ...form, authorization: basic(seeded.service.clientId, seeded.service.clientSecret) }, body: ccBody };
    const rawCc: HttpRequest = { ...cc, headers: { ...form, authorization: basic(baselineClient.id, baselineClient.secret) } };
    const rounds = 2;
    for (const scenario of scenarios) {
      log(`${config}: ${scenario}`);
      switch (scenario) {
        case 'client-credentials': {
          const { gatehouse: g, raw } = await alternate(scenario, config, baseline, rawCc, gatehouse, cc, rounds);
          if (config === 'postgres-1' && !profile) {
            curves.push(await sweep('Gatehouse (PostgreSQL, 1 process)', gatehouse, cc, g.requestsPerSecond));
            if (raw) curves.push(await sweep('raw oidc-provider', baseline, rawCc, raw.requestsPerSecond));
          }
          break;
        }
        case 'rbac-client-credentials': {
          // Client credentials for a resource with RBAC on, the scope held through a role: compare with client-credentials'
          // ratio of the same invocation (issue 15: within 3 points).
          const request: HttpRequest = { ...cc, body: new URLSearchParams({ grant_type: 'client_credentials', resource: rbacAudience, scope: 'read' }).toString() };
          await alternate(scenario, config, baseline, rawCc, gatehouse, request, rounds);
          break;
        }
        case 'admin-polling': {
          // Client credentials as above while an admin client polls the admin API (users, audit) five times a
          // second, under GATEHOUSE_RATE_LIMIT_ADMIN's default 600/min: the ratio should match client-credentials'.
          const adminToken = (await obtain(issuer, { grant_type: 'client_credentials', resource: 'urn:gatehouse:admin', scope: 'admin:users.read admin:audit.read' }, basic(seeded.admin.clientId, seeded.admin.clientSecret))).access_token!;
          const polls = { ok: 0, other: 0 };
          const poller = () => {
            let stopped = false;
            const loop = (async () => {
              for (let i = 0; !stopped; i += 1) {
                const path = i % 2 ? '/admin/v1/audit/events?limit=50' : '/admin/v1/users?limit=50';
                const response = await fetch(`${issuer}${path}`, { headers: { authorization: `Bearer ${adminToken}` } }).catch(() => undefined);
                await response?.arrayBuffer();
                if (response?.status === 200) polls.ok += 1;
                else polls.other += 1;
                await new Promise((r) => setTimeout(r, 200));
              }
            })();
            return async () => {
              stopped = true;
              await loop;
            };
          };
          await alternate(scenario, config, baseline, rawCc, gatehouse, cc, rounds, { duringGatehouse: poller });
          notes.push(`admin-polling (${config}): ${polls.ok} admin API calls answered 200 during the Gatehouse runs, ${polls.other} otherwise.`);
          break;
        }
        case 'dpop-client-credentials': {
          const request: HttpRequest = { ...cc, headers: { ...form, authorization: basic(seeded.dpopService.clientId, seeded.dpopService.clientSecret) } };
          const rawRequest: HttpRequest = { ...cc, headers: { ...form, authorization: basic(`${baselineClient.id}-dpop`, baselineClient.secret) } };
          await alternate(scenario, config, baseline, rawRequest, gatehouse, request, rounds, { dpop: true });
          break;
        }
        case 'mtls-client-credentials': {
          const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { mtls_endpoint_aliases?: { token_endpoint?: string } };
          const mtlsToken = discovery.mtls_endpoint_aliases?.token_endpoint;
          if (!mtlsToken) {
            notes.push('mtls-client-credentials: the mTLS listener is not advertised in discovery; skipped.');
            break;
          }
          const clientId = await registerMtlsClient(seeded.iat, issuer);
          const request: HttpRequest = { path: '/token', method: 'POST', headers: form, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource: audience, scope: 'read' }).toString() };
          const base = new URL(mtlsToken).origin.replace('localhost', '127.0.0.1');
          await alternate(scenario, config, undefined, undefined, gatehouse, request, 1, { base, tlsOptions: { cert: worker.certificatePem, key: worker.privateKeyPem, servername: 'localhost' } });
          break;
        }
        case 'authorization-code': {
          const m = await signIns({ issuer, pid: gatehouse.child.pid!, clientId: seeded.web.clientId, clientSecret: seeded.web.clientSecret, redirectUri: seeded.web.redirectUri, users: seeded.users, concurrency: signInConcurrency, seconds: Math.max(seconds, 10), dbPid: kind === 'postgres' ? dbPid : undefined });
          log(`  B ${config.padEnd(7)} ${fmt(m)} (sign-ins)`);
          rows.push({ scenario: 'authorization-code (sign-ins/s)', config, target: 'Gatehouse', m });
          break;
        }
        case 'refresh': {
          const rt = await refreshToken(issuer, seeded);
          const request: HttpRequest = { path: '/token', method: 'POST', headers: { ...form, authorization: basic(seeded.web.clientId, seeded.web.clientSecret) }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString() };
          await alternate(scenario, config, undefined, undefined, gatehouse, request, 1);
          break;
        }
        case 'introspection': {
          const token = (await obtain(issuer, { grant_type: 'client_credentials' }, cc.headers!.authorization!)).access_token!;
          const rawToken = (await obtain(baseline.url, { grant_type: 'client_credentials' }, rawCc.headers!.authorization!)).access_token!;
          const request: HttpRequest = { path: '/token/introspection', method: 'POST', headers: cc.headers!, body: new URLSearchParams({ token }).toString() };
          const rawRequest: HttpRequest = { path: '/token/introspection', method: 'POST', headers: rawCc.headers!, body: new URLSearchParams({ token: rawToken }).toString() };
          await alternate(scenario, config, baseline, rawRequest, gatehouse, request, rounds);
          break;
        }
        case 'jwks':
          await alternate(scenario, config, baseline, { path: '/jwks' }, gatehouse, { path: '/jwks' }, 1);
          break;
        case 'discovery':
          await alternate(scenario, config, baseline, { path: '/.well-known/openid-configuration' }, gatehouse, { path: '/.well-known/openid-configuration' }, 1);
          break;
      }
    }
  } finally {
    await gatehouse.stop();
    await bouncer?.stop();
  }
}

const baselineClient = { id: 'bench-raw-client', secret: randomBytes(32).toString('base64url') };

function curveTable(): string {
  const lines = ['Latency versus offered load, client credentials (chart: [client-credentials-latency.svg](client-credentials-latency.svg)); open loop, evenly spaced arrivals, latency counted from when each request was due:', '', '| Server | Offered req/s | Achieved req/s | p50 ms | p99 ms |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const curve of curves) for (const p of curve.points) lines.push(`| ${curve.label} | ${Math.round(p.offered)} | ${Math.round(p.achieved)} | ${p.p50.toFixed(1)} | ${p.p99.toFixed(1)} |`);
  return `${lines.join('\n')}\n`;
}

function table(): string {
  const lines = [
    '| Scenario | Database, processes | Server | req/s | p50 ms | p90 ms | p99 ms | Errors | Peak RSS MB (per process) | CPU (cores) | PostgreSQL CPU (cores) | Load generator CPU (cores) | Gatehouse / raw |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const m = r.m;
    lines.push(
      `| ${r.scenario} | ${r.config} | ${r.target} | ${Math.round(m.requestsPerSecond)} | ${m.p50.toFixed(1)} | ${m.p90.toFixed(1)} | ${m.p99.toFixed(1)} | ${m.errors} | ${Math.round(m.usage.peakRssBytes / 2 ** 20)} | ${(m.usage.cpuSeconds / m.seconds).toFixed(2)} | ${m.dbCpuSeconds ? (m.dbCpuSeconds / m.seconds).toFixed(2) : ''} | ${(m.generatorCpuSeconds / m.seconds).toFixed(2)} | ${r.ratio === undefined ? '' : `${(r.ratio * 100).toFixed(0)} %`} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const started = new Date();
  let postgres: { adminUrl: string; pid: number; stop(): void } | undefined;
  const pgAdmin = () => {
    postgres ??= startPostgres(path.join(runDir, 'pg'));
    dbPid = postgres.pid;
    return postgres.adminUrl;
  };
  log('compiling Gatehouse and the bench servers');
  compile();
  log(`signing ceiling (jose, one core)`);
  const ceiling = signingCeiling();
  const [es256, rs256] = [ceiling.ES256, ceiling.RS256];
  log(`  ES256 ${Math.round(es256)}/s, RS256 ${Math.round(rs256)}/s${ceiling.pinned ? ' (pinned to one core)' : ' (taskset missing: not pinned)'}`);
  const baseline = await startBaseline({ port: await freePort(), clientId: baselineClient.id, clientSecret: baselineClient.secret, audience, logFile: path.join(runDir, 'baseline.log'), ...(profile ? { nodeArgs: profilerArgs('raw') } : {}) });
  try {
    for (const config of configs) {
      if (!configNames.includes(config)) throw new Error(`unknown configuration ${config}; one of ${configNames.join(', ')}`);
      await runConfig(config, baseline, pgAdmin);
    }
  } finally {
    await baseline.stop();
    postgres?.stop();
  }
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const header = [
    `Run ${started.toISOString()} · Node ${process.version} · ${cores} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}) · ${Math.round(os.totalmem() / 2 ** 30)} GB`,
    `Command: \`${command}\` · ${connections} connections, ${seconds} s per run; raw and Gatehouse alternate (A B A B) where both serve the scenario.`,
    `Signing ceiling (jose, one core): ES256 ${Math.round(es256)}/s, RS256 ${Math.round(rs256)}/s.`,
  ].join('\n\n');
  const output = `${header}\n\n${table()}\n${notes.length ? `\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}`;
  process.stdout.write(`\n${output}`);
  mkdirSync(path.join(root, 'bench/out'), { recursive: true });
  writeFileSync(path.join(root, 'bench/out/last-run.md'), output);
  const svg = curves.length ? latencyChart('Client credentials (JWT ES256, PostgreSQL, one process): latency vs offered load', curves) : undefined;
  if (svg) writeFileSync(path.join(root, 'bench/out/client-credentials-latency.svg'), svg);
  const complete = argv.length === 0 && configs.join(',') === configNames.join(',') && !profile;
  if (complete) {
    // A complete run replaces the generated part of bench/RESULTS.md and the chart; the analysis around it is kept.
    if (svg) writeFileSync(path.join(root, 'bench/client-credentials-latency.svg'), svg);
    const file = path.join(root, 'bench/RESULTS.md');
    const generated = `<!-- bench:start (written by npm run bench) -->\n${output}\n${curves.length ? `${curveTable()}\n` : ''}<!-- bench:end -->`;
    const previous = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\n<!-- bench:start --><!-- bench:end -->\n';
    writeFileSync(file, previous.replace(/<!-- bench:start[\s\S]*<!-- bench:end -->/, () => generated));
    log('wrote bench/RESULTS.md and bench/client-credentials-latency.svg');
  } else {
    log('partial run: wrote bench/out/last-run.md (bench/RESULTS.md is written by a complete `npm run bench`)');
  }
  if (profile) {
    const newest = (side: keyof typeof served) => {
      const file = readdirSync(profileDir(side)).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
      return file ? path.join(profileDir(side), file) : undefined;
    };
    const [rawProfile, gatehouseProfile] = [newest('raw'), newest('gatehouse')];
    if (gatehouseProfile) process.stdout.write(`\n${summariseProfile(gatehouseProfile)}\n`);
    if (rawProfile && gatehouseProfile && served.raw && served.gatehouse) {
      process.stdout.write(`\n${compareProfiles({ file: rawProfile, requests: served.raw }, { file: gatehouseProfile, requests: served.gatehouse })}\n`);
    }
  }
  rmSync(runDir, { recursive: true, force: true });
}

await main();
