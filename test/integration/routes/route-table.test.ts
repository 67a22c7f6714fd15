/**
 * One route table (src/http/route-table.ts) against a running Gatehouse:
 * every route its provider serves is in it, enumerated from the library and
 * by requesting each one; a library route without an entry fails the check;
 * a path in no entry is still limited and labelled; the library's
 * case-insensitive matching does not let `/TOKEN` escape the token budget.
 * The pure parts are in test/unit/route-table.test.ts.
 */
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { libraryRoutes, routes, unmatchedRoute } from '../../../src/http/route-table.js';
import { servedRoutes, unlistedRoutes, type ServedRoute } from '../../support/library-routes.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

/** The log line of the request that got this response. */
function logLine(gh: TestGatehouse, response: Response): Record<string, unknown> {
  const id = response.headers.get('x-request-id');
  const line = gh.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'request' && l.requestId === id);
  if (!line) throw new Error(`no log line for request ${id}`);
  return line;
}

describe('the route table', () => {
  let gh: TestGatehouse;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: {
        GATEHOUSE_RATE_LIMIT_OTHER: 'ip=5/1m,client=off',
        GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=3/1m,client=off',
        // Each budget test speaks for an address of its own (a trusted proxy's X-Forwarded-For).
        GATEHOUSE_TRUST_PROXY: 'true',
        GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
      }, });
  });
  afterAll(() => gh?.close());


  it('lists every route the running provider serves', () => {
    const served = servedRoutes(gh.app.handle.current);
    // Not a vacuous pass: the provider Gatehouse builds serves these at least.
    expect(served.map((r) => `${r.method} ${r.path}`)).toEqual(
      expect.arrayContaining(['GET /auth', 'GET /auth/aBcD1234', 'POST /token', 'POST /request', 'GET /me', 'POST /reg', 'GET /reg/some-client-id', 'PUT /reg/some-client-id', 'DELETE /reg/some-client-id', 'POST /token/introspection', 'POST /token/revocation', 'GET /session/end', 'POST /session/end/confirm', 'GET /session/end/success', 'GET /jwks', 'GET /.well-known/openid-configuration', 'GET /.well-known/oauth-authorization-server']),
    );
    expect(unlistedRoutes(served)).toEqual([]);
    // Each path's entry is labelled with a name the library gives it (/reg/:id is client, client_update, client_delete).
    const names = new Map<string, Set<string>>();
    for (const route of served) names.set(route.path, (names.get(route.path) ?? new Set()).add(route.name));
    for (const [path, named] of names) expect([...named], path).toContain(routes.resolve(path).label);
  });


  it('fails the check for a library route that has no entry', () => {
    // A provider whose token endpoint lives at a path the table does not know.
    const moved = new Provider('http://localhost:3000', { routes: { ...libraryRoutes(), token: '/oauth2/token' }, features: { devInteractions: { enabled: false } } });
    expect(unlistedRoutes(servedRoutes(moved)).map((r) => `${r.method} ${r.path}`)).toEqual(['POST /oauth2/token', 'OPTIONS /oauth2/token']);
    // And a route a future library version adds.
    const future: ServedRoute = { name: 'new_endpoint', method: 'POST', path: '/new-endpoint' };
    expect(unlistedRoutes([...servedRoutes(gh.app.handle.current), future])).toEqual([future]);
  });

  it('knows every endpoint discovery advertises', async () => {
    const response = await fetch(`${gh.issuer}/.well-known/openid-configuration`);
    const discovery = (await response.json()) as Record<string, unknown>;
    const urls = Object.entries(discovery).filter(([key, value]) => /(_endpoint|_uri)$/.test(key) && typeof value === 'string' && value.startsWith(gh.issuer));
    expect(urls.length).toBeGreaterThanOrEqual(8);
    for (const [key, url] of urls) expect(routes.resolve(new URL(url as string).pathname), key).not.toBe(unmatchedRoute);
  });

  it('labels each served route as the table says when it is requested', async () => {
    const served = servedRoutes(gh.app.handle.current).filter((r) => r.method !== 'OPTIONS' && r.name !== 'token');
    for (const route of served) {
      const response = await fetch(`${gh.issuer}${route.path}`, {
        method: route.method,
        redirect: 'manual',
        headers: { accept: 'application/json', ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { body: '' }),
      });
      await response.arrayBuffer();
      expect(response.status, `${route.method} ${route.path}`).toBeLessThan(500);
      expect(logLine(gh, response).route, `${route.method} ${route.path}`).toBe(routes.resolve(route.path).label);
    }
  });

  it('limits and labels a path in no entry (class other, label unmatched), but never the health probes', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 6; i += 1) {
      last = await fetch(`${gh.issuer}/no-such-thing-${i}`, { headers: { accept: 'application/json', 'x-forwarded-for': '203.0.113.7' } });
      statuses.push(last.status);
      if (i < 5) await last.arrayBuffer();
    }
    expect(statuses.slice(0, 5)).toEqual([404, 404, 404, 404, 404]);
    expect(statuses[5]).toBe(429);
    expect(last!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await last!.json()).toMatchObject({ error: 'temporarily_unavailable' });
    expect(logLine(gh, last!)).toMatchObject({ route: 'unmatched', status: 429, rateLimited: 'other.ip' });
    // Discovery shares the `other` budget now spent; the probes do not spend any.
    const from = { 'x-forwarded-for': '203.0.113.7' };
    expect((await fetch(`${gh.issuer}/.well-known/openid-configuration`, { headers: from })).status).toBe(429);
    for (let i = 0; i < 10; i += 1) expect((await fetch(`${gh.issuer}/healthz`, { headers: from })).status).toBe(200);
  });

  it('does not let a case- or slash-variant of /token escape the token budget (the library serves them all)', async () => {
    const post = (path: string) => fetch(`${gh.issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '203.0.113.8' }, body: 'grant_type=client_credentials' });
    const variants = ['/TOKEN', '/Token/', '/token', '/tOkEn'];
    const answers = [];
    for (const path of variants) {
      const response = await post(path);
      answers.push({ status: response.status, body: (await response.json()) as { error?: string }, route: logLine(gh, response).route });
    }
    // The library answered the first three as its token endpoint (no client authentication: not a 404) …
    for (const answer of answers.slice(0, 3)) expect(answer).toMatchObject({ status: 400, body: { error: 'invalid_request' }, route: 'token' });
    // … and the fourth spent a budget of three.
    expect(answers[3]).toMatchObject({ status: 429, body: { error: 'temporarily_unavailable' }, route: 'token' });
  });

});
