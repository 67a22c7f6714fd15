/**
 * The production shape, executable: a PostgreSQL server of the test's own,
 * three Gatehouse processes on loopback ports and a real nginx round-robin in
 * front of them with no sticky sessions. Everything goes through nginx the
 * way a browser or relying party would, and each scenario checks what breaks
 * when state is kept per node: a login whose pages land on different nodes,
 * a refresh on another node, a key rotation every node signs with, a rate
 * limit that is one budget for the cluster, a database restart every node
 * survives without a restart, and a node killed with SIGKILL under load.
 *
 * Always PostgreSQL (whatever GATEHOUSE_TEST_DB says): the embedded database
 * serves one process. Measured recovery times are printed as `[measure]`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { decodeJwt, decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../../src/config/index.js';
import { openCore, type Core } from '../../../src/core.js';
import { createLogger } from '../../../src/observability/logger.js';
import type { Services } from '../../../src/services.js';
import { freePort } from '../../support/gatehouse.js';
import { startNginx, type Nginx } from '../../support/nginx.js';
import { spawnNode, type NodeProcess } from '../../support/node-process.js';
import { signInThroughPages, UserAgent, type Step } from '../../support/user-agent.js';
import { startPostgresServer, type PostgresServer } from './postgres-server.js';
import { operator } from '../../../src/audit/events.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redirectUri = 'https://rp.example.test/callback';
const api = 'https://api.example.test';
// Above what the web client spends in the whole file (~36 token requests), so only the budget test meets it.
const tokenBudget = 60;
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const measure = (line: string) => process.stdout.write(`[measure] ${line}\n`);

/**
 * nginx as an operator would run it: round-robin, no affinity. A node that
 * refuses connections is skipped for fail_timeout, and a request it never
 * received goes to the next node. Requests a node may already have acted on
 * are retried only where repeating them is harmless (`non_idempotent` on
 * userinfo and introspection, which only read); never on /token, where a
 * repeated code or refresh token is a replay that revokes the whole grant.
 */
function nginxConfig(listenPort: number, nodes: NodeProcess[]): string {
  const proxy = (retry: string) => `
      proxy_pass http://gatehouse;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_connect_timeout 1s;
      proxy_read_timeout 15s;
      proxy_next_upstream ${retry};
      proxy_next_upstream_tries 3;
      proxy_next_upstream_timeout 5s;`;
  return `
  upstream gatehouse {
${nodes.map((n) => `    server 127.0.0.1:${n.port} max_fails=1 fail_timeout=5s;`).join('\n')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {${proxy('error timeout http_503')}
    }
    location = /me {${proxy('error timeout http_503 non_idempotent')}
    }
    location = /token/introspection {${proxy('error timeout http_503 non_idempotent')}
    }
  }`;
}

/** Remembers the X-Request-Id of every response, so the test can ask which node served it. */
class RecordingAgent extends UserAgent {
  readonly requestIds: string[] = [];
  override async request(url: string, init?: Parameters<UserAgent['request']>[1]): Promise<Step> {
    const step = await super.request(url, init);
    const id = step.headers.get('x-request-id');
    if (id) this.requestIds.push(id);
    return step;
  }
}

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

describe('a cluster of three nodes behind nginx on one PostgreSQL', () => {
  let postgres: PostgresServer;
  let dataDir: string;
  let core: Core;
  let services: Services;
  let nodes: NodeProcess[] = [];
  let nginx: Nginx;
  let issuer: string;
  let user: { username: string; password: string };
  let web: { id: string; secret: string };
  const env: Record<string, string> = {};

  /** Index of the node whose log has this request id, or -1 (log lines arrive through a pipe: wait a little). */
  const servedBy = async (requestId: string | null) => {
    for (let waited = 0; requestId !== null && waited < 3000; waited += 50) {
      const index = nodes.findIndex((n) => n.output().includes(`"requestId":"${requestId}"`));
      if (index >= 0) return index;
      await sleep(50);
    }
    return -1;
  };

  const token = (body: Record<string, string>, authorization = basic(web.id, web.secret), base = issuer) =>
    fetch(`${base}/token`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });

  const authorizationUrl = (challenge: string, extra: Record<string, string> = {}) =>
    `${issuer}/auth?${new URLSearchParams({ client_id: web.id, response_type: 'code', redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent', code_challenge: challenge, code_challenge_method: 'S256', state: randomBytes(8).toString('hex'), ...extra })}`;

  /** A full sign-in through nginx: pages, code, tokens. */
  async function signIn(agent = new RecordingAgent()) {
    const { verifier, challenge } = pkce();
    const callback = new URL(await signInThroughPages(agent, issuer, authorizationUrl(challenge), user));
    const code = callback.searchParams.get('code');
    expect(code, callback.href).toBeTruthy();
    const response = await token({ grant_type: 'authorization_code', code: code!, code_verifier: verifier, redirect_uri: redirectUri });
    expect(response.status).toBe(200);
    const tokens = (await response.json()) as { access_token: string; refresh_token: string; id_token: string };
    return { agent, tokens, exchangedBy: await servedBy(response.headers.get('x-request-id')) };
  }

  beforeAll(async () => {
    postgres = await startPostgresServer();
    const admin = new pg.Client({ connectionString: postgres.adminUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE gatehouse');
    await admin.end();
    const databaseUrl = new URL(postgres.adminUrl);
    databaseUrl.pathname = '/gatehouse';
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-cluster-'));
    const nginxPort = await freePort();
    issuer = `http://127.0.0.1:${nginxPort}`;
    Object.assign(env, {
      DATABASE_URL: databaseUrl.href,
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_ISSUER: issuer,
      GATEHOUSE_DB_POOL_MAX: '5',
      // Only the change notification can make every node sign with a new key within seconds.
      GATEHOUSE_KEY_CHECK_INTERVAL: '30s',
      GATEHOUSE_JWKS_MAX_AGE: '1s',
      GATEHOUSE_RATE_LIMIT_TOKEN: `ip=off,client=${tokenBudget}/1m`,
      GATEHOUSE_RATE_LIMIT_AUTHORIZATION: 'ip=1000000/1m,client=1000000/1m',
      GATEHOUSE_RATE_LIMIT_INTROSPECTION: 'ip=1000000/1m,client=1000000/1m',
      GATEHOUSE_RATE_LIMIT_INTERACTION: 'ip=1000000/1m,client=off',
      GATEHOUSE_LOG_LEVEL: 'info',
    });
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    core = await openCore(config, createLogger('silent'));
    ({ services } = core);
    user = { username: 'cluster-user', password: 'correct horse battery staple' };
    await services.accounts.create(operator, { username: user.username, password: user.password, email: 'cluster@example.test', emailVerified: true, name: 'Cluster User' });
    const created = await services.clients.create(operator, { type: 'confidential', name: 'Cluster web', redirectUris: [redirectUri] });
    web = { id: created.client.clientId, secret: created.clientSecret! };
    await services.resources.add(operator, { rbac: false, audience: api, name: 'API', scopes: [], accessTokenTtl: 300 });
    nodes = await Promise.all([spawnNode(env), spawnNode(env), spawnNode(env)]);
    nginx = await startNginx({ config: nginxConfig(nginxPort, nodes) });
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await core?.close();
    await postgres?.remove();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  type SignedIn = Awaited<ReturnType<typeof signIn>>;
  let first: SignedIn;

  it('signs in with authorization code + PKCE although the steps land on different nodes', async () => {
    first = await signIn();
    const pages = await Promise.all(first.agent.requestIds.map(servedBy));
    expect(pages.every((n) => n >= 0)).toBe(true);
    // /auth, the login page, its POST, the resumed /auth, consent, its POST, the redirect: spread over the nodes.
    expect(new Set(pages).size).toBeGreaterThanOrEqual(2);
    expect(new Set([...pages, first.exchangedBy]).size).toBe(3);
    const claims = decodeJwt(first.tokens.id_token);
    expect(claims.iss).toBe(issuer);
    expect(claims.aud).toBe(web.id);
    expect(first.tokens.refresh_token).toBeTruthy();
  });

  it('refreshes on a node other than the one that issued the tokens', async () => {
    let refreshedBy = first.exchangedBy;
    for (let i = 0; i < 3 && refreshedBy === first.exchangedBy; i += 1) {
      const response = await token({ grant_type: 'refresh_token', refresh_token: first.tokens.refresh_token });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { access_token: string; id_token: string };
      expect(decodeJwt(body.id_token).sub).toBe(decodeJwt(first.tokens.id_token).sub);
      refreshedBy = await servedBy(response.headers.get('x-request-id'));
    }
    expect(refreshedBy).toBeGreaterThanOrEqual(0);
    expect(refreshedBy).not.toBe(first.exchangedBy);
  });

  it('signs with a key rotated in on one node on all three within seconds', async () => {
    // One service client per node: polling for the new key must not spend the budget tested below.
    const perNode = await Promise.all(nodes.map((_n, i) => services.clients.create(operator, { type: 'service', name: `rotation ${i}` })));
    const mint = async (node: NodeProcess, i: number) => {
      const response = await token({ grant_type: 'client_credentials', resource: api }, basic(perNode[i]!.client.clientId, perNode[i]!.clientSecret!), node.url);
      expect(response.status).toBe(200);
      return decodeProtectedHeader(((await response.json()) as { access_token: string }).access_token).kid;
    };
    const before = await Promise.all(nodes.map(mint));
    expect(new Set(before).size).toBe(1);
    // The rotation runs in nodes[0]'s database the way `gatehouse keys rotate --now` does: a row change and a notification.
    const started = performance.now();
    const { kid } = await services.keystore.rotate(operator, { alg: 'ES256', immediate: true });
    expect(kid).not.toBe(before[0]);
    const seenAfter: number[] = [];
    await Promise.all(
      nodes.map(async (node, i) => {
        while ((await mint(node, i)) !== kid) {
          expect(performance.now() - started, `node ${i} still signs with the old key`).toBeLessThan(5000);
          await sleep(100);
        }
        seenAfter[i] = performance.now() - started;
      }),
    );
    // Through nginx too: every node serves the new key in its JWKS.
    for (let i = 0; i < 3; i += 1) {
      const jwks = (await (await fetch(`${issuer}/jwks`)).json()) as { keys: Array<{ kid: string }> };
      expect(jwks.keys.map((k) => k.kid)).toContain(kid);
    }
    measure(`key rotated in → signing on all three nodes after ${seenAfter.map((ms) => ms.toFixed(0)).join(' / ')} ms`);
  });

  it('limits a client to one budget for the whole cluster, not one per node', async () => {
    const { client, clientSecret } = await services.clients.create(operator, { type: 'service', name: 'budget' });
    const results: Array<{ status: number; node: number }> = [];
    for (let i = 0; i < tokenBudget + 20; i += 1) {
      const response = await token({ grant_type: 'client_credentials' }, basic(client.clientId, clientSecret!));
      await response.arrayBuffer();
      results.push({ status: response.status, node: await servedBy(response.headers.get('x-request-id')) });
    }
    expect(results.filter((r) => r.status === 200)).toHaveLength(tokenBudget);
    expect(results.filter((r) => r.status === 429)).toHaveLength(20);
    // Every node granted some and refused some: the counter really is shared.
    for (const node of [0, 1, 2]) {
      expect(results.some((r) => r.node === node && r.status === 200)).toBe(true);
      expect(results.some((r) => r.node === node && r.status === 429)).toBe(true);
    }
  });

  it('survives a PostgreSQL restart: not ready during the outage, ready again after, no node restarted', async () => {
    const pids = nodes.map((n) => n.child.pid);
    const readiness = async (node: NodeProcess) => {
      const response = await fetch(`${node.url}/readyz`);
      return { status: response.status, body: (await response.json()) as { failing?: string[] } };
    };
    const stoppedAt = performance.now();
    await postgres.stop();
    const notReadyAfter: number[] = [];
    await Promise.all(
      nodes.map(async (node, i) => {
        for (;;) {
          const { status, body } = await readiness(node);
          if (status === 503) {
            expect(body.failing).toContain('database');
            break;
          }
          expect(performance.now() - stoppedAt, `node ${i} still ready with the database down`).toBeLessThan(10_000);
          await sleep(100);
        }
        notReadyAfter[i] = performance.now() - stoppedAt;
      }),
    );
    // Liveness stays up: an orchestrator must not restart a node for a database outage.
    for (const node of nodes) expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
    await sleep(1000);
    const startedAt = performance.now();
    await postgres.start();
    const databaseBack = performance.now();
    const readyAfter: number[] = [];
    await Promise.all(
      nodes.map(async (node, i) => {
        while ((await readiness(node)).status !== 200) {
          expect(performance.now() - databaseBack, `node ${i} not ready again`).toBeLessThan(30_000);
          await sleep(100);
        }
        readyAfter[i] = performance.now() - databaseBack;
      }),
    );
    expect(nodes.map((n) => n.child.pid)).toEqual(pids);
    expect(nodes.every((n) => n.child.exitCode === null)).toBe(true);
    measure(`PostgreSQL stopped → readiness false after ${notReadyAfter.map((ms) => ms.toFixed(0)).join(' / ')} ms; ` +
      `restarted (pg_ctl start took ${(databaseBack - startedAt).toFixed(0)} ms) → ready again after ${readyAfter.map((ms) => ms.toFixed(0)).join(' / ')} ms`);

    // And the cluster works again end to end: a key change made at once reaches every node, sign-in, refresh.
    const { kid } = await services.keystore.rotate(operator, { alg: 'ES256', immediate: true });
    const rotatedAt = performance.now();
    const again = await signIn();
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: again.tokens.refresh_token });
    expect(refreshed.status).toBe(200);
    const service = await services.clients.create(operator, { type: 'service', name: 'after restart' });
    for (const node of nodes) {
      for (;;) {
        const response = await token({ grant_type: 'client_credentials', resource: api }, basic(service.client.clientId, service.clientSecret!), node.url);
        expect(response.status).toBe(200);
        if (decodeProtectedHeader(((await response.json()) as { access_token: string }).access_token).kid === kid) break;
        // Sent before the nodes' listening connections were back: each node re-reads its keys when its
        // listener reconnects (backoff 1 s, 2 s, 4 s …), well before the periodic check (30 s).
        expect(performance.now() - rotatedAt, 'key change not picked up after the listener reconnected').toBeLessThan(10_000);
        await sleep(200);
      }
    }
    measure(`after the restart, a key change reached all three nodes in ${(performance.now() - rotatedAt).toFixed(0)} ms`);
  }, 120_000);

  type Result = { at: number; kind: string; ok: boolean; status: number; ms: number };
  const cookieHeader = (agent: UserAgent) => [...agent.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

  /**
   * Eight workers cycling userinfo, a prompt=none authorization (the session cookie alone) and
   * introspection for the signed-in users, plus one worker minting client-credentials tokens (POST
   * /token, which nginx never repeats once sent), for `runFor` ms; `disrupt` runs at `disruptAt`.
   */
  async function runLoad(users: SignedIn[], disrupt: () => void, options = { runFor: 6000, disruptAt: 2000 }) {
    const loadClients = await Promise.all(Array.from({ length: 8 }, (_v, i) => services.clients.create(operator, { type: 'service', name: `load ${i}` })));
    const results: Result[] = [];
    const start = performance.now();
    const operations = [
      async (u: SignedIn) => {
        const response = await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${u.tokens.access_token}` } });
        await response.arrayBuffer();
        return { kind: 'userinfo', status: response.status, ok: response.status === 200 };
      },
      async (u: SignedIn) => {
        const response = await fetch(authorizationUrl(pkce().challenge, { prompt: 'none', scope: 'openid' }), { headers: { cookie: cookieHeader(u.agent) }, redirect: 'manual' });
        await response.arrayBuffer();
        const location = new URL(response.headers.get('location') ?? 'about:blank', issuer);
        return { kind: 'session', status: response.status, ok: response.status === 303 && location.href.startsWith(redirectUri) && location.searchParams.has('code') };
      },
      async (u: SignedIn) => {
        const response = await fetch(`${issuer}/token/introspection`, {
          method: 'POST',
          headers: { authorization: basic(web.id, web.secret), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: u.tokens.access_token }),
        });
        const body = response.status === 200 ? ((await response.json()) as { active?: boolean }) : (await response.arrayBuffer(), {});
        return { kind: 'introspection', status: response.status, ok: body.active === true };
      },
    ];
    let disruptedAt = 0;
    const disruptor = (async () => {
      await sleep(options.disruptAt);
      disrupt();
      disruptedAt = performance.now() - start;
    })();
    await Promise.all([
      ...Array.from({ length: 8 }, async (_w, worker) => {
        for (let i = 0; performance.now() - start < options.runFor; i += 1) {
          const op = operations[(worker + i) % operations.length]!;
          const at = performance.now() - start;
          const result = await op(users[(worker + i) % users.length]!).catch(() => ({ kind: 'network', status: 0, ok: false }));
          results.push({ at, ...result, ms: performance.now() - start - at });
        }
      }),
      (async () => {
        for (let i = 0; performance.now() - start < options.runFor; i += 1) {
          const at = performance.now() - start;
          const { client, clientSecret } = loadClients[i % loadClients.length]!;
          const response = await token({ grant_type: 'client_credentials' }, basic(client.clientId, clientSecret!)).catch(() => undefined);
          await response?.arrayBuffer();
          results.push({ at, kind: 'token', status: response?.status ?? 0, ok: response?.status === 200, ms: performance.now() - start - at });
          await sleep(25);
        }
      })(),
    ]);
    await disruptor;
    const failed = results.filter((r) => !r.ok);
    const after = results.filter((r) => r.at > disruptedAt);
    const summary =
      `${results.length} requests (${after.length} after it), ${failed.length} failed (${JSON.stringify(failed.map((r) => `${r.kind}:${r.status}`))}); ` +
      `last failure ${failed.length ? `${(Math.max(...failed.map((r) => r.at)) - disruptedAt).toFixed(0)} ms after it` : 'none'}; ` +
      `slowest request in the second after it ${Math.max(...after.filter((r) => r.at < disruptedAt + 1000).map((r) => r.ms)).toFixed(0)} ms ` +
      `(median before ${median(results.filter((r) => r.at < disruptedAt).map((r) => r.ms)).toFixed(1)} ms, after ${median(after.map((r) => r.ms)).toFixed(1)} ms)`;
    return { results, failed, after, disruptedAt, summary };
  }

  /** Every browser is still signed in (prompt=none gives a code that redeems) and every grant still refreshes. */
  async function expectNothingLost(users: SignedIn[]) {
    for (const u of users) {
      const { verifier, challenge } = pkce();
      const response = await fetch(authorizationUrl(challenge, { prompt: 'none', scope: 'openid' }), { headers: { cookie: cookieHeader(u.agent) }, redirect: 'manual' });
      const code = new URL(response.headers.get('location')!).searchParams.get('code');
      expect(code, 'session lost').toBeTruthy();
      const exchanged = await token({ grant_type: 'authorization_code', code: code!, code_verifier: verifier, redirect_uri: redirectUri });
      expect(exchanged.status).toBe(200);
      const refreshed = await token({ grant_type: 'refresh_token', refresh_token: u.tokens.refresh_token });
      expect(refreshed.status, 'grant lost').toBe(200);
    }
  }

  const loadUsers: SignedIn[] = [];

  it('keeps serving when a node is killed with SIGKILL under load, losing no session or grant', async () => {
    // Six signed-in browsers, each with its session cookies and a grant (refresh token); the pages of
    // each were served by every node, so some of that state was written by the node about to die.
    for (let i = 0; i < 6; i += 1) loadUsers.push(await signIn());
    const victim = nodes[1]!;
    const { results, failed, after, disruptedAt, summary } = await runLoad(loadUsers, () => victim.child.kill('SIGKILL'));
    measure(`SIGKILL of one node under load: ${summary}`);
    expect(victim.child.signalCode).toBe('SIGKILL');
    // The load went on after the kill, served by the two survivors.
    expect(after.length).toBeGreaterThan(50);
    expect(after.filter((r) => r.kind === 'token' && r.ok).length).toBeGreaterThan(10);
    // At most what was in flight on the dead node when it died, only around the kill, and only
    // requests nginx must not repeat: a read it could retry elsewhere never reaches the client as an error.
    expect(failed.length).toBeLessThanOrEqual(2);
    for (const failure of failed) expect(failure).toMatchObject({ kind: 'token', status: 502 });
    expect(results.filter((r) => r.at > disruptedAt + 1000).every((r) => r.ok)).toBe(true);
    await expectNothingLost(loadUsers);
  }, 120_000);

  it('drains a node on SIGTERM under load: no request fails, the node exits 0 at once with its audit written', async () => {
    const victim = nodes[2]!;
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => victim.child.once('exit', (code) => resolve({ code, at: performance.now() })));
    let signalledAt = 0;
    const { failed, after, summary } = await runLoad(loadUsers, () => {
      signalledAt = performance.now();
      victim.child.kill('SIGTERM');
    });
    const { code, at: exitedAt } = await exited;
    const exitedAfter = exitedAt - signalledAt;
    measure(`SIGTERM of one node under load: ${summary}; the node exited ${code} after ${exitedAfter.toFixed(0)} ms`);
    expect(code).toBe(0);
    // Well inside the in-flight bound (10 s): nginx's kept-alive sockets are closed as their requests finish.
    expect(exitedAfter).toBeLessThan(3000);
    expect(victim.output()).toContain('"msg":"audit log drained"');
    expect(victim.output()).toContain('"msg":"stopped"');
    expect(after.length).toBeGreaterThan(50);
    // Nothing fails, with one exception nginx makes inevitable: a POST it writes on a kept-alive socket in
    // the instant the node closes that socket is not repeated (see nginxConfig). Every run so far: none.
    expect(failed.length).toBeLessThanOrEqual(1);
    for (const failure of failed) expect(failure).toMatchObject({ kind: 'token', status: 502 });
    await expectNothingLost(loadUsers);
  }, 120_000);
});
