/**
 * Load: autocannon for single-request scenarios (closed loop, N kept-alive
 * connections, or a fixed overall rate for the latency curve), and a small
 * driver for the multi-step sign-in flow, which autocannon cannot follow.
 */
import { createHash, randomBytes } from 'node:crypto';

import autocannon from 'autocannon';

import { signInThroughPages, UserAgent } from '../test/support/user-agent.js';
import { sampleUsage, type Usage } from './processes.js';

export interface Measurement {
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  total: number;
  usage: Usage;
  /** CPU seconds of the load generator itself (it shares the machine). */
  generatorCpuSeconds: number;
  /** CPU seconds of the PostgreSQL server (all its processes), when there is one. */
  dbCpuSeconds: number;
  seconds: number;
}

export interface HttpRequest {
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export async function hammer(base: string, request: HttpRequest, options: { pid: number; dbPid?: number | undefined; connections: number; seconds: number; overallRate?: number; tlsOptions?: object }): Promise<Measurement> {
  const usage = sampleUsage(options.pid);
  const dbUsage = options.dbPid ? sampleUsage(options.dbPid) : undefined;
  const cpu = process.cpuUsage();
  const result = await autocannon({
    url: `${base}${request.path}`,
    method: request.method ?? 'GET',
    ...(request.headers ? { headers: request.headers } : {}),
    ...(request.body ? { body: request.body } : {}),
    connections: options.connections,
    duration: options.seconds,
    ...(options.overallRate ? { overallRate: Math.max(1, Math.round(options.overallRate)) } : {}),
    ...(options.tlsOptions ? { tlsOptions: options.tlsOptions } : {}),
    timeout: 10,
  });
  const used = process.cpuUsage(cpu);
  const total = result.requests.total;
  return {
    requestsPerSecond: total / (result.duration || options.seconds),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    total,
    usage: usage.stop(),
    generatorCpuSeconds: (used.user + used.system) / 1e6,
    dbCpuSeconds: dbUsage?.stop().cpuSeconds ?? 0,
    seconds: result.duration || options.seconds,
  };
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0);

/**
 * Authorization code + PKCE, end to end, as a browser and its RP would do it:
 * /auth → login page → POST the login form (argon2id verify) → redirect with
 * the code → POST /token with the code_verifier. One "request" is one whole
 * completed sign-in; `concurrency` sign-ins run at a time.
 */
export async function signIns(options: {
  issuer: string;
  pid: number;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** One account per concurrent sign-in: the lockout refuses parallel attempts on one account (429). */
  users: Array<{ username: string; password: string }>;
  concurrency: number;
  seconds: number;
  dbPid?: number | undefined;
}): Promise<Measurement> {
  const usage = sampleUsage(options.pid);
  const dbUsage = options.dbPid ? sampleUsage(options.dbPid) : undefined;
  const cpu = process.cpuUsage();
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + options.seconds * 1000;
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64')}`;
  const one = async (user: { username: string; password: string }) => {
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(16).toString('base64url');
    const auth = new URL('/auth', options.issuer);
    auth.search = new URLSearchParams({
      client_id: options.clientId,
      response_type: 'code',
      redirect_uri: options.redirectUri,
      scope: 'openid',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();
    const callback = new URL(await signInThroughPages(new UserAgent(), options.issuer, auth.href, user));
    const code = callback.searchParams.get('code');
    if (!code || callback.searchParams.get('state') !== state) throw new Error(`no code in ${callback.href}`);
    const token = await fetch(new URL('/token', options.issuer), {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: options.redirectUri, code_verifier: verifier }),
    });
    const body = (await token.json()) as { id_token?: string };
    if (!token.ok || !body.id_token) throw new Error(`token exchange answered ${token.status}`);
  };
  const worker = async (_: unknown, index: number) => {
    const user = options.users[index % options.users.length]!;
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        await one(user);
        latencies.push(performance.now() - t0);
      } catch (error) {
        errors += 1;
        if (errors <= 3) process.stderr.write(`sign-in failed: ${String(error).slice(0, 200)}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return measured(latencies, errors, seconds, { usage: usage.stop(), generator: process.cpuUsage(cpu), dbCpuSeconds: dbUsage?.stop().cpuSeconds ?? 0 });
}

/**
 * Open-loop load at a fixed rate, evenly spaced (autocannon's `overallRate`
 * releases each second's budget in a burst, which measures its own queue):
 * request i is due at start + i/rate, and its latency counts from when it was
 * due, so a stalled server is charged for the requests it kept waiting
 * (no coordinated omission). Up to `connections` kept-alive connections.
 */
export async function paced(base: string, request: HttpRequest, options: { pid: number; rate: number; seconds: number; connections: number }): Promise<Measurement> {
  const { Pool } = await import('undici');
  const pool = new Pool(base, { connections: options.connections, pipelining: 1 });
  const usage = sampleUsage(options.pid);
  const cpu = process.cpuUsage();
  const latencies: number[] = [];
  let errors = 0;
  const total = Math.round(options.rate * options.seconds);
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i += 1) {
    const due = started + (i * 1000) / options.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(
      pool
        .request({ path: request.path, method: request.method ?? 'GET', headers: request.headers ?? {}, ...(request.body ? { body: request.body } : {}) })
        .then(async (response) => {
          await response.body.dump();
          if (response.statusCode >= 300) errors += 1;
          latencies.push(performance.now() - due);
        })
        .catch(() => {
          errors += 1;
        }),
    );
  }
  await Promise.all(inFlight);
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return measured(latencies, errors, seconds, { usage: usage.stop(), generator: process.cpuUsage(cpu), dbCpuSeconds: 0 });
}

/** A measurement from the latencies of completed requests (ms) and what the processes used meanwhile. */
function measured(latencies: number[], errors: number, seconds: number, used: { usage: Usage; generator: NodeJS.CpuUsage; dbCpuSeconds: number }): Measurement {
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    errors,
    total: latencies.length,
    usage: used.usage,
    generatorCpuSeconds: (used.generator.user + used.generator.system) / 1e6,
    dbCpuSeconds: used.dbCpuSeconds,
    seconds,
  };
}

/**
 * Closed-loop load where every request carries a fresh DPoP proof (RFC 9449:
 * a proof is one-time, so autocannon's fixed request cannot serve): each of
 * `connections` workers signs a proof (ES256, its own key, as separate
 * clients would), sends it, and keeps the `DPoP-Nonce` the server hands
 * back. A `use_dpop_nonce` answer is retried with the new nonce and not
 * counted as an error (it is the protocol's round trip, once a minute per
 * client); anything else that is not 2xx is.
 */
export async function dpopHammer(base: string, request: HttpRequest & { htu: string }, options: { pid: number; dbPid?: number | undefined; connections: number; seconds: number }): Promise<Measurement> {
  const { Pool } = await import('undici');
  const { exportJWK, generateKeyPair, SignJWT } = await import('jose');
  const pool = new Pool(base, { connections: options.connections, pipelining: 1 });
  const usage = sampleUsage(options.pid);
  const dbUsage = options.dbPid ? sampleUsage(options.dbPid) : undefined;
  const cpu = process.cpuUsage();
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + options.seconds * 1000;
  const worker = async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = await exportJWK(publicKey);
    let nonce: string | undefined;
    const proof = () =>
      new SignJWT({ htm: request.method ?? 'POST', htu: request.htu, jti: randomBytes(16).toString('base64url'), iat: Math.floor(Date.now() / 1000), ...(nonce ? { nonce } : {}) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(privateKey);
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        for (let attempt = 0; attempt < 2; attempt += 1) {
          const response = await pool.request({ path: request.path, method: request.method ?? 'POST', headers: { ...request.headers, dpop: await proof() }, ...(request.body ? { body: request.body } : {}) });
          const text = await response.body.text();
          const next = response.headers['dpop-nonce'];
          if (typeof next === 'string') nonce = next;
          if (response.statusCode === 200) {
            latencies.push(performance.now() - t0);
            break;
          }
          if (attempt === 0 && response.statusCode === 400 && text.includes('use_dpop_nonce')) continue;
          errors += 1;
          if (errors <= 3) process.stderr.write(`dpop request answered ${response.statusCode}: ${text.slice(0, 200)}\n`);
          break;
        }
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  return measured(latencies, errors, seconds, { usage: usage.stop(), generator: process.cpuUsage(cpu), dbCpuSeconds: dbUsage?.stop().cpuSeconds ?? 0 });
}
