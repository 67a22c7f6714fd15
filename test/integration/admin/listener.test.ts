/**
 * The separate admin listener (GATEHOUSE_ADMIN_PORT): it serves /admin/v1 and
 * nothing else, the main listener then answers 404 under /admin/v1, the
 * OpenAPI document names the admin listener as its server, the start-up log
 * says where each listens, and with GATEHOUSE_TLS_* it speaks TLS like the
 * main listener. The browsable reference page is served there too.
 */
import { request } from 'node:https';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { adminOperations } from '../../../src/admin/index.js';
import { operator } from '../../../src/audit/events.js';
import { developmentTls } from '../../../src/tls/development.js';
import { freshDatabase, integrationDbKind } from '../../support/databases.js';
import { freePort, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminServiceClient, mintToken } from './helpers.js';

describe('a separate admin listener', () => {
  let gh: TestGatehouse;
  let adminPort: number;
  let admin: string;

  beforeAll(async () => {
    adminPort = await freePort();
    gh = await startTestGatehouse({ env: { GATEHOUSE_ADMIN_PORT: String(adminPort), GATEHOUSE_ADMIN_HOST: '127.0.0.1' } });
    admin = `http://127.0.0.1:${adminPort}`;
  });
  afterAll(() => gh?.close());

  it('serves the admin API with a token from the main listener; the main listener answers 404 there', async () => {
    expect(gh.app.adminUrl).toBe(admin);
    const token = await (await adminServiceClient(gh, ['admin:users.read'])).token();
    const listed = await fetch(`${admin}/admin/v1/users`, { headers: { authorization: `Bearer ${token}` } });
    expect(listed.status).toBe(200);
    expect(listed.headers.get('content-security-policy')).toContain("default-src 'none'");
    // Authorisation is the same there: no token, a 401 challenge.
    const none = await fetch(`${admin}/admin/v1/users`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse-admin"');

    for (const path of ['/admin/v1/users', '/admin/v1/openapi.json', '/admin/v1']) {
      const refused = await fetch(`${gh.issuer}${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(refused.status, path).toBe(404);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await refused.json()) as { detail: string }).detail).toBe('The admin API is not served on this listener.');
    }
  });

  it('serves nothing but /admin/v1: the protocol endpoints, pages and health stay on the main listener', async () => {
    for (const path of ['/.well-known/openid-configuration', '/token', '/healthz', '/jwks', '/', '/admin', '/admin/v2/users', '/setup', '/interaction/x']) {
      const answer = await fetch(`${admin}${path}`);
      expect(answer.status, path).toBe(404);
      expect(((await answer.json()) as { detail: string }).detail).toBe('This listener serves only the admin API, under /admin/v1.');
    }
    expect((await fetch(`${gh.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    const token = await fetch(`${admin}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    expect(token.status).toBe(404);
  });

  it('serves the browsable reference there: every operation, local assets only, under the strict CSP', async () => {
    const page = await fetch(`${admin}/admin/v1/reference`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await page.text();
    for (const op of adminOperations(gh.app.services, { search: async () => [], verify: async () => ({ ok: true, rows: 0, head: { seq: 0, hash: '' }, problems: [] }) }, gh.issuer)) {
      expect(html, op.id).toContain(`<code>${op.id}</code>`);
    }
    expect(html).toContain('<h3 id="schema-NewInitialAccessToken">');
    // No inline script or style, no third-party asset: the page's one stylesheet is local, and served on this listener.
    expect(html).not.toMatch(/<script|style=|<style/);
    expect([...html.matchAll(/(?:href|src)="([^"#]+)"/g)].map((m) => m[1])).toEqual(['data:,', '/static/gatehouse.css', '/admin/v1/openapi.json']);
    const css = await fetch(`${admin}/static/gatehouse.css`);
    expect(css.status).toBe(200);
    expect((await fetch(`${admin}/admin/v1/reference`, { method: 'POST' })).status).toBe(405);
  });

  it('the OpenAPI document names the admin listener as its server; the start-up log says what listens where', async () => {
    const document = (await (await fetch(`${admin}/admin/v1/openapi.json`)).json()) as { servers: Array<{ url: string }> };
    expect(document.servers).toEqual([{ url: `${admin}/admin/v1` }]);
    const line = gh.logs.map((l) => JSON.parse(l) as { msg: string; listening?: string }).find((l) => l.msg.startsWith('admin API listening'));
    expect(line).toMatchObject({ listening: admin, msg: `admin API listening on ${admin}/admin/v1 (not on the main listener)` });
  });
});

describe('a separate admin listener with TLS', () => {
  let gh: TestGatehouse;
  let adminPort: number;
  let ca: string;

  beforeAll(async () => {
    const database = await freshDatabase(integrationDbKind());
    const tls = await developmentTls(join(database.dataDir, 'test-tls'), ['localhost']);
    ca = tls.caPem;
    const { writeFile } = await import('node:fs/promises');
    const certFile = join(tls.directory, 'main-cert.pem');
    const keyFile = join(tls.directory, 'main-key.pem');
    await writeFile(certFile, tls.certificatePem);
    await writeFile(keyFile, tls.privateKeyPem, { mode: 0o600 });
    adminPort = await freePort();
    gh = await startTestGatehouse({ database, env: { GATEHOUSE_ADMIN_PORT: String(adminPort), GATEHOUSE_TLS_CERT_FILE: certFile, GATEHOUSE_TLS_KEY_FILE: keyFile } });
  });
  afterAll(async () => {
    await gh?.close();
    await gh?.database.cleanup();
  });

  const get = (path: string, token?: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: adminPort, path, ca, servername: 'localhost', headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('speaks TLS with the main listener’s certificate, and refuses plain HTTP', async () => {
    expect(gh.app.adminUrl).toBe(`https://127.0.0.1:${adminPort}`);
    // A token of a real, live client (the API checks that it still stands), minted without a TLS round trip.
    const { client } = await gh.app.services.clients.create(operator, { type: 'service', name: 'svc', scope: 'admin:keys.read' });
    const token = await mintToken(gh, { sub: client.clientId, client_id: client.clientId, scope: 'admin:keys.read' });
    const keys = await get('/admin/v1/keys', token);
    expect(keys.status).toBe(200);
    expect((JSON.parse(keys.body) as { items: unknown[] }).items.length).toBeGreaterThan(0);
    await expect(fetch(`http://127.0.0.1:${adminPort}/admin/v1/keys`)).rejects.toThrow();
  });
});
