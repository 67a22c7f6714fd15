/**
 * Rate limits on one node (either backend): per client and per IP budgets,
 * their headers and bodies, points given back when a request is not the
 * client it claims, and which X-Forwarded-For hop counts as the client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { UserAgent } from '../../support/user-agent.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, parseRateLimitField, tokenRequest } from '../../support/requests.js';

describe('rate limits', () => {
  let gh: TestGatehouse;
  let proxied: TestGatehouse;

  beforeAll(async () => {
    [gh, proxied] = await Promise.all([
      startTestGatehouse({
        env: {
          GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=40/1m,client=5/1m',
          GATEHOUSE_RATE_LIMIT_INTERACTION: 'ip=3/1m,client=off',
          GATEHOUSE_RATE_LIMIT_INTROSPECTION: 'ip=off,client=2/1m',
        },
      }),
      startTestGatehouse({
        env: { GATEHOUSE_TRUST_PROXY: 'true', GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1/32, ::1', GATEHOUSE_RATE_LIMIT_AUTHORIZATION: 'ip=2/1m,client=off' },
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([gh?.close(), proxied?.close()]);
  });

  it('limits a client at its budget with 429, Retry-After, RateLimit fields and an OAuth JSON body', async () => {
    const client = await gh.createClient({ type: 'service', name: 'limited' });
    const auth = { authorization: basic(client.clientId, client.clientSecret!) };
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 7; i += 1) {
      last = await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, auth);
      statuses.push(last.status);
      if (i === 0) {
        expect(parseRateLimitField(last.headers.get('ratelimit-policy'))['token-client']).toEqual({ q: 5, w: 60 });
        expect(parseRateLimitField(last.headers.get('ratelimit'))['token-client']!.r).toBe(4);
      }
      if (last.status !== 429) await last.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    const retryAfter = Number(last!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const fields = parseRateLimitField(last!.headers.get('ratelimit'));
    expect(fields['token-client']).toEqual({ r: 0, t: retryAfter });
    expect(parseRateLimitField(last!.headers.get('ratelimit-policy'))).toEqual({ 'token-ip': { q: 40, w: 60 }, 'token-client': { q: 5, w: 60 } });
    expect(last!.headers.get('content-type')).toMatch(/^application\/json/);
    expect(last!.headers.get('cache-control')).toBe('no-store');
    expect(last!.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(await last!.json()).toEqual({ error: 'temporarily_unavailable', error_description: `Too many requests. Retry in ${retryAfter} seconds.` });
    expect(gh.logs.some((l) => l.includes('"rateLimited":"token.client"') && l.includes(last!.headers.get('x-request-id')!))).toBe(true);
  });

  it('does not let a wrong secret spend a client\'s budget; the sender\'s IP budget pays instead', async () => {
    const victim = await gh.createClient({ type: 'service', name: 'victim' });
    for (let i = 0; i < 8; i += 1) {
      const refused = await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(victim.clientId, 'not-the-secret') });
      expect(refused.status).toBe(401);
      await refused.arrayBuffer();
    }
    for (let i = 0; i < 5; i += 1) {
      const ok = await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(victim.clientId, victim.clientSecret!) });
      expect(ok.status).toBe(200);
      await ok.arrayBuffer();
    }
  });

  it('finds the client id in a form body (client_secret_post) and still lets the library read that body', async () => {
    const client = await gh.createClient({ type: 'service', name: 'post', authMethod: 'client_secret_post' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      const response = await tokenRequest(gh.issuer, { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret! });
      statuses.push(response.status);
      const body = (await response.json()) as { access_token?: string };
      if (response.status === 200) expect(body.access_token).toBeTruthy();
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('limits introspection per client with its own budget', async () => {
    const client = await gh.createClient({ type: 'service', name: 'introspector' });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const response = await fetch(`${gh.issuer}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.clientId, client.clientSecret!) },
        body: 'token=unknown',
      });
      statuses.push(response.status);
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 429]);
  });

  it('answers a person on the sign-in pages with a friendly HTML page', async () => {
    const agent = new UserAgent();
    const pages = [];
    for (let i = 0; i < 4; i += 1) pages.push(await agent.request(`${gh.issuer}/interaction/some-interaction-id`));
    expect(pages.map((p) => p.status)).toEqual([400, 400, 400, 429]);
    const limited = pages[3]!;
    expect(limited.headers.get('content-type')).toMatch(/^text\/html/);
    expect(limited.body).toContain('Too many attempts');
    expect(limited.body).toContain(limited.headers.get('x-request-id')!);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('counts the right-most untrusted X-Forwarded-For hop as the client, so spoofed hops buy no budget', async () => {
    const authorize = (forwardedFor: string) =>
      fetch(`${proxied.issuer}/auth?client_id=nobody&response_type=code`, { headers: { 'x-forwarded-for': forwardedFor }, redirect: 'manual' });
    // Two requests from 203.0.113.7 behind the trusted proxy use up its budget …
    for (const spoof of ['198.51.100.1', '198.51.100.2']) expect((await authorize(`${spoof}, 203.0.113.7`)).status).not.toBe(429);
    // … and a third, whatever it claims to the left of the real hop, is refused.
    const third = await authorize('198.51.100.3, 203.0.113.7');
    expect(third.status).toBe(429);
    expect(third.headers.get('content-type')).toMatch(/^text\/html/);
    // Another client address behind the same proxy has its own budget.
    expect((await authorize('203.0.113.8')).status).not.toBe(429);
    const line = proxied.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === third.headers.get('x-request-id'));
    expect(line?.ip).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For (and X-Request-Id) from a peer that is not a trusted proxy', async () => {
    const response = await fetch(`${gh.issuer}/healthz`, { headers: { 'x-forwarded-for': '192.0.2.55', 'x-request-id': 'chosen-by-the-client-123' } });
    const id = response.headers.get('x-request-id')!;
    expect(id).not.toBe('chosen-by-the-client-123');
    const line = gh.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === id);
    expect(line?.ip).toBe('127.0.0.1');
  });
});
