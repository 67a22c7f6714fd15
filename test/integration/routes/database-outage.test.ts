/**
 * A database outage (issue 22 item 5): while PostgreSQL is down, protocol
 * endpoints answer 503 `temporarily_unavailable` with Retry-After, pages a
 * plain "try again shortly" page, /readyz 503; nothing answers 500, and
 * service resumes when the server is back. Runs on a PostgreSQL server of its
 * own (test/integration/cluster/postgres-server.ts), stopped mid-test; the
 * shared one is never touched. The embedded database's equivalent (a closed
 * PGlite under a running node) follows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isDatabaseUnavailable } from '../../../src/db/unavailable.js';
import { startPostgresServer, type PostgresServer } from '../cluster/postgres-server.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { freshDatabase } from '../../support/databases.js';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const redirectUri = 'https://rp.example.test/callback';

describe('a database outage', () => {
  let postgres: PostgresServer;
  let gh: TestGatehouse;
  let dataDir: string;
  let service: { clientId: string; clientSecret: string | undefined };
  let web: { clientId: string; clientSecret: string | undefined };

  beforeAll(async () => {
    postgres = await startPostgresServer();
    const admin = new pg.Client({ connectionString: postgres.adminUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE gatehouse');
    await admin.end();
    const databaseUrl = new URL(postgres.adminUrl);
    databaseUrl.pathname = '/gatehouse';
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-outage-'));
    gh = await startTestGatehouse({ database: { kind: 'postgres', databaseUrl: databaseUrl.href, dataDir, cleanup: async () => undefined } });
    service = await gh.createClient({ type: 'service', name: 'outage service' });
    web = await gh.createClient({ type: 'confidential', name: 'outage web', redirectUris: [redirectUri] });
  }, 120_000);

  afterAll(async () => {
    await postgres?.start().catch(() => undefined);
    await gh?.close();
    await postgres?.remove();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const token = (authorization: string) =>
    fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  const authorize = (clientId: string) =>
    fetch(`${gh.issuer}/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's1' })}`, {
      redirect: 'manual',
      headers: { accept: 'text/html' },
    });

  /** A sign-in begun before the outage: its page and cookies. */
  let interaction: { url: string; cookie: string };

  it('answers normally while the database is up', async () => {
    expect((await token(basic(service.clientId, service.clientSecret!))).status).toBe(200);
    expect((await fetch(`${gh.issuer}/readyz`)).status).toBe(200);
    // Also puts the web client in the client cache, as traffic would.
    const started = await authorize(web.clientId);
    expect(started.status).toBe(303);
    interaction = {
      url: new URL(started.headers.get('location')!, gh.issuer).href,
      cookie: started.headers.getSetCookie().map((c) => c.split(';', 1)[0]).join('; '),
    };
    expect(interaction.url).toContain('/interaction/');
  });

  describe('while PostgreSQL is stopped', () => {
    beforeAll(async () => {
      await postgres.stop();
    }, 60_000);

    it('answers the token endpoint with 503 temporarily_unavailable and Retry-After', async () => {
      // An unknown client is not in the client cache: the lookup reaches for the database.
      const response = await token(basic('not-cached-client', 'whatever'));
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'The service is briefly unavailable. Try again shortly.' });
    });

    it('answers registration reads and introspection the same way', async () => {
      const introspection = await fetch(`${gh.issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basic('another-uncached-client', 'x'), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=abc',
      });
      expect(introspection.status).toBe(503);
      expect(await introspection.json()).toMatchObject({ error: 'temporarily_unavailable' });
      const read = await fetch(`${gh.issuer}/reg/some-client`, { headers: { authorization: 'Bearer some-registration-access-token' } });
      expect(read.status).toBe(503);
      expect(read.headers.get('retry-after')).toBeTruthy();
      expect(await read.json()).toMatchObject({ error: 'temporarily_unavailable' });
    });

    it('shows a person a plain "try again shortly" page at the authorization endpoint', async () => {
      const response = await authorize('unknown-client-during-outage');
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBeTruthy();
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      const page = await response.text();
      expect(page).toContain('Try again shortly');
      expect(page).not.toMatch(/server_error|postgres|ECONNREFUSED|stack/i);
    });

    it('shows the page, not a redirect with server_error, when the client is known (cached) too', async () => {
      // The library never redirects a server fault to the client (lib/shared/authorization_error_handler.js: no allow_redirect).
      const response = await authorize(web.clientId);
      expect(response.status).toBe(503);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toContain('Try again shortly');
    });

    it('shows the page on Gatehouse’s own sign-in pages', async () => {
      const response = await fetch(interaction.url, { headers: { accept: 'text/html', cookie: interaction.cookie } });
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('Try again shortly');
    });

    it('reports not ready', async () => {
      const response = await fetch(`${gh.issuer}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ failing: expect.arrayContaining(['database']) });
    });

    it('logs the cause with the request id, which the client never sees', async () => {
      const response = await token(basic('yet-another-uncached-client', 'x'));
      const requestId = response.headers.get('x-request-id');
      await response.arrayBuffer();
      const lines = gh.logs.map((l) => JSON.parse(l) as { requestId?: string; err?: { message?: string; code?: string }; msg: string; status?: number });
      expect(lines.some((l) => l.requestId === requestId && l.err && l.msg === 'provider server_error')).toBe(true);
      expect(lines.find((l) => l.requestId === requestId && l.msg === 'request')).toMatchObject({ status: 503 });
    });
  });

  describe('once PostgreSQL is back', () => {
    beforeAll(async () => {
      await postgres.start();
    }, 60_000);

    it('serves again without a restart', async () => {
      let status = 0;
      for (let attempt = 0; attempt < 50 && status !== 401; attempt += 1) {
        status = (await token(basic('still-unknown-client', 'x'))).status;
        if (status !== 401) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(401);
      expect((await token(basic(service.clientId, service.clientSecret!))).status).toBe(200);
      expect((await fetch(`${gh.issuer}/readyz`)).status).toBe(200);
    });
  });
});

describe('the embedded database closed under a running node', () => {
  it('answers 503 temporarily_unavailable, and tells a closed PGlite from a bad query', async () => {
    const gh = await startTestGatehouse({ kind: 'embedded' });
    try {
      const syntax = await gh.app.db.query('SELEC 1').then(() => undefined, (e: unknown) => e);
      expect(syntax).toBeTruthy();
      expect(isDatabaseUnavailable(syntax)).toBe(false);
      await gh.app.db.close();
      const closed = await gh.app.db.query('SELECT 1').then(() => undefined, (e: unknown) => e);
      expect(isDatabaseUnavailable(closed)).toBe(true);
      const response = await fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: basic('uncached', 'x'), 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBeTruthy();
      expect(await response.json()).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      await gh.close().catch(() => undefined);
    }
  });
});

describe('telling an outage from a fault', () => {
  it('recognises what pg really throws when the server is away, and nothing else', async () => {
    // Connection refused: a port nobody listens on.
    const refused = new pg.Client({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2000 });
    const refusal = await refused.connect().then(() => undefined, (e: unknown) => e);
    expect(isDatabaseUnavailable(refusal)).toBe(true);

    expect(isDatabaseUnavailable(new Error('duplicate key value violates unique constraint'))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: '23505' }))).toBe(false);
    expect(isDatabaseUnavailable(Object.assign(new Error('no such file'), { code: 'ENOENT', syscall: 'open' }))).toBe(false);
    expect(isDatabaseUnavailable(new Error('wrapped', { cause: Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }) }))).toBe(true);
  });

  it('recognises a connection the server terminates (57P01) on the shared server, without stopping it', async () => {
    const database = await freshDatabase('postgres').catch(() => undefined);
    if (!database) return expect.fail('no PostgreSQL server for tests');
    try {
      const victim = new pg.Client({ connectionString: database.databaseUrl });
      await victim.connect();
      victim.on('error', () => undefined);
      const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const killer = new pg.Client({ connectionString: database.databaseUrl });
      await killer.connect();
      await killer.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await killer.end();
      const lost = await victim.query('SELECT 1').then(() => undefined, (e: unknown) => e);
      expect(lost).toBeTruthy();
      expect(isDatabaseUnavailable(lost)).toBe(true);
      await victim.end().catch(() => undefined);
    } finally {
      await database.cleanup();
    }
  });
});
