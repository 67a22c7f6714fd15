/**
 * Failed client authentication has its own budget, per client id and per
 * address, much tighter than the request budgets: past it, 429 with
 * Retry-After before the secret is checked (the right secret is refused too),
 * while successes cost nothing and the invalid_client alert still fires.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, parseRateLimitField, sleep, tokenRequest } from '../../support/requests.js';

describe('the failed-client-authentication budget', () => {
  let gh: TestGatehouse;
  let service: { clientId: string; clientSecret: string | undefined };
  let address = 0;
  /** Each test speaks from its own address, through the trusted proxy. */
  const from = () => ({ 'x-forwarded-for': `198.51.100.${(address += 1)}` });

  beforeAll(async () => {
    gh = await startTestGatehouse({
      env: {
        GATEHOUSE_TRUST_PROXY: 'true',
        GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
        // '' is "unset": the documented default (ip=20/1m,client=10/1m) applies.
        GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES: '',
        GATEHOUSE_ALERT_INVALID_CLIENT: '10/1m',
      },
    });
    service = await gh.createClient({ type: 'service', name: 'Billing worker' });
  });
  afterAll(() => gh?.close());

  const mint = (clientId: string, secret: string, headers: Record<string, string>) =>
    tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(clientId, secret), ...headers });

  it('answers the 11th wrong secret in a minute for one client with 429 and Retry-After, and then the right secret too', async () => {
    const victim = await gh.createClient({ type: 'service', name: 'Guessed at' });
    const statuses: number[] = [];
    let refused: Response | undefined;
    // 60 wrong secrets in a few seconds, from six addresses (so the per-address budget does not decide).
    for (let i = 0; i < 60; i += 1) {
      const response = await mint(victim.clientId, `wrong-${i}`, { 'x-forwarded-for': `203.0.113.${(i % 6) + 1}` });
      statuses.push(response.status);
      if (response.status === 429) refused ??= response;
      else await response.body?.cancel();
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(50).fill(429));
    const retryAfter = Number(refused!.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(parseRateLimitField(refused!.headers.get('ratelimit-policy'))).toEqual({ 'client-auth-failures-client': { q: 10, w: 60 } });
    expect(refused!.headers.get('cache-control')).toBe('no-store');
    expect(await refused!.json()).toMatchObject({ error: 'temporarily_unavailable' });
    // Before the secret is checked: the right one is refused as well, from a fresh address.
    expect((await mint(victim.clientId, victim.clientSecret!, from())).status).toBe(429);
    // Other clients are not affected.
    expect((await mint(service.clientId, service.clientSecret!, from())).status).toBe(200);
  });

  it('answers an address that failed 20 times in a minute with 429, whichever client it names next', async () => {
    const headers = from();
    const statuses: number[] = [];
    for (let i = 0; i < 25; i += 1) {
      const response = await mint(`made-up-${i}`, 'whatever', headers);
      statuses.push(response.status);
      await response.body?.cancel();
    }
    expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
    expect(statuses.slice(20)).toEqual(Array(5).fill(429));
    const refused = await mint(service.clientId, service.clientSecret!, headers);
    expect(refused.status).toBe(429);
    expect(parseRateLimitField(refused.headers.get('ratelimit-policy'))).toEqual({ 'client-auth-failures-ip': { q: 20, w: 60 } });
    // The same client from another address is fine: the block is the address's.
    expect((await mint(service.clientId, service.clientSecret!, from())).status).toBe(200);
  });

  it('counts failures at introspection and revocation too (client_secret_post)', async () => {
    const victim = await gh.createClient({ type: 'service', name: 'Introspected at' });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i += 1) {
      const path = i % 2 ? '/token/introspection' : '/token/revocation';
      const response = await fetch(`${gh.issuer}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': `192.0.2.${i + 1}` },
        body: new URLSearchParams({ token: 'x', client_id: victim.clientId, client_secret: 'wrong' }),
      });
      statuses.push(response.status);
      await response.body?.cancel();
    }
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);
    expect(statuses.slice(10)).toEqual([429, 429]);
  });

  it('never spends the budget on successful authentications', async () => {
    const headers = from();
    const results = await Promise.all(Array.from({ length: 40 }, () => mint(service.clientId, service.clientSecret!, headers)));
    expect(results.map((r: Response) => r.status)).toEqual(Array(40).fill(200));
  });

  it('still audits each failure and raises the invalid_client alert', async () => {
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ n: number }>("SELECT count(*)::integer AS n FROM audit_events WHERE type = 'client.authentication_failed'");
    // 10 + 20 + 10 failures above; the 429s are not authentication attempts.
    expect(rows[0]!.n).toBe(40);
    await sleep(100);
    expect(gh.logs.some((l) => l.includes('"alert":"invalid_client_burst"'))).toBe(true);
  });
});
