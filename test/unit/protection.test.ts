/**
 * The pure parts of the protection layer: the leased budget's arithmetic (on
 * a shared in-memory store standing in for PostgreSQL), which X-Forwarded-For
 * hop is the client, IPv6 buckets, the audit chain's canonical form, and the
 * budget syntax in configuration.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';

import { canonicalJson, chainHash, contentDigest, genesisHash } from '../../src/audit/chain.js';
import { loadConfig } from '../../src/config/index.js';
import { addressBucket, createClientAddress } from '../../src/http/client-ip.js';
import { createBudget } from '../../src/http/rate-limit-budget.js';
import type { LimiterFactory } from '../../src/db/counters.js';

/** Several "nodes" (budgets) over one store, as PostgreSQL would be shared. */
function sharedStore(): LimiterFactory {
  const limiters = new Map<string, RateLimiterMemory>();
  return {
    shared: true,
    limiter(name, points, duration) {
      let limiter = limiters.get(name);
      if (!limiter) limiters.set(name, (limiter = new RateLimiterMemory({ keyPrefix: name, points, duration })));
      return limiter;
    },
  };
}

describe('leased budgets', () => {
  it('never grants more than the limit across nodes, however requests interleave', async () => {
    const store = sharedStore();
    const nodes = [0, 1, 2].map(() => createBudget(store, 'rl.test', 1000, 60));
    let granted = 0;
    await Promise.all(
      Array.from({ length: 30 }, async (_v, worker) => {
        for (let i = 0; i < 60; i += 1) if ((await nodes[worker % 3]!.take('client-a')).allowed) granted += 1;
      }),
    );
    expect(granted).toBe(1000);
    await Promise.all(nodes.map((n) => n.close()));
  });

  it('leases ahead when plenty is left, so most requests do not touch the store', async () => {
    const store = sharedStore();
    let calls = 0;
    const counting: LimiterFactory = {
      shared: true,
      limiter(name, points, duration) {
        const limiter = store.limiter(name, points, duration);
        return new Proxy(limiter, {
          get(target, prop) {
            if (prop === 'consume') calls += 1;
            const value = Reflect.get(target, prop) as unknown;
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
      },
    };
    const budget = createBudget(counting, 'rl.lease', 100_000, 60);
    for (let i = 0; i < 1000; i += 1) await budget.take('busy');
    expect(calls).toBeLessThanOrEqual(12);
    await budget.close();
  });

  it('gives a returned point to the next request, and reports what is left', async () => {
    const budget = createBudget(sharedStore(), 'rl.give', 3, 60);
    const first = await budget.take('k');
    expect(first).toMatchObject({ allowed: true, limit: 3, windowSeconds: 60 });
    expect(first.remaining).toBe(2);
    await budget.take('k');
    await budget.take('k');
    expect((await budget.take('k')).allowed).toBe(false);
    budget.giveBack('k');
    expect((await budget.take('k')).allowed).toBe(true);
    const refused = await budget.take('k');
    expect(refused).toMatchObject({ allowed: false, remaining: 0 });
    expect(refused.resetSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.resetSeconds).toBeLessThanOrEqual(60);
    await budget.close();
  });

  it('returns an idle node\'s unused lease to the other nodes', async () => {
    const store = sharedStore();
    const [a, b] = [createBudget(store, 'rl.idle', 160, 60), createBudget(store, 'rl.idle', 160, 60)];
    expect((await a.take('k')).allowed).toBe(true); // a leases 10 and uses 1
    await new Promise((r) => setTimeout(r, 2200)); // a's sweep returns the 9 it did not use
    let granted = 1;
    while ((await b.take('k')).allowed) granted += 1;
    expect(granted).toBe(160);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('client address', () => {
  const proxies = createClientAddress(['10.0.0.0/8', '::1', '192.0.2.10']);

  it('believes forwarded hops only from a trusted peer, and takes the right-most untrusted one', () => {
    expect(proxies.resolve('203.0.113.9', '1.1.1.1')).toEqual({ ip: '203.0.113.9', viaTrustedProxy: false });
    expect(proxies.resolve('10.1.2.3', '1.1.1.1, 198.51.100.7')).toEqual({ ip: '198.51.100.7', viaTrustedProxy: true });
    expect(proxies.resolve('10.1.2.3', '198.51.100.7, 10.9.9.9, 192.0.2.10')).toEqual({ ip: '198.51.100.7', viaTrustedProxy: true });
    expect(proxies.resolve('::ffff:10.1.2.3', 'garbage, 198.51.100.8')).toEqual({ ip: '198.51.100.8', viaTrustedProxy: true });
    expect(proxies.resolve('10.1.2.3', '198.51.100.8, not-an-ip')).toEqual({ ip: '10.1.2.3', viaTrustedProxy: true });
    expect(proxies.resolve('10.1.2.3', undefined)).toEqual({ ip: '10.1.2.3', viaTrustedProxy: true });
    expect(proxies.resolve('::1', '10.0.0.5, 10.0.0.6')).toEqual({ ip: '10.0.0.5', viaTrustedProxy: true });
    expect(createClientAddress([]).resolve('10.1.2.3', '1.1.1.1')).toEqual({ ip: '10.1.2.3', viaTrustedProxy: false });
  });

  it('counts IPv6 clients per /64', () => {
    expect(addressBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('203.0.113.9')).toBe('203.0.113.9');
  });
});

describe('audit chain', () => {
  const content = { occurredAt: new Date('2025-01-01T00:00:00.000Z'), type: 'token.issued', outcome: 'success', actor: 'c', subject: 'c', clientId: 'c', ip: '127.0.0.1', requestId: 'r', node: 'n', detail: { b: 1, a: [1, { y: 2, x: 1 }] } };

  it('hashes the same content the same way whatever the key order', () => {
    expect(canonicalJson({ b: 1, a: { d: 1, c: 2 } })).toBe('{"a":{"c":2,"d":1},"b":1}');
    const key = Buffer.alloc(32, 1);
    expect(chainHash(key, genesisHash, content).equals(chainHash(key, genesisHash, { ...content, detail: { a: [1, { x: 1, y: 2 }], b: 1 } }))).toBe(true);
    expect(chainHash(key, genesisHash, content).equals(chainHash(key, genesisHash, { ...content, ip: '127.0.0.2' }))).toBe(false);
    expect(chainHash(key, genesisHash, content).equals(chainHash(Buffer.alloc(32, 2), genesisHash, content))).toBe(false);
  });

  // Digests of rows written by earlier releases (computed with the original generic
  // canonicalJson walk): the faster digest must keep every stored chain verifiable.
  it('digests content exactly as earlier releases did', () => {
    const cases: Array<[Parameters<typeof contentDigest>[0], string]> = [
      [content, 'a920a8a0c93783605058d8bd607a60c7966e0fa9505da0d82e6a57c7177952d5'],
      [
        { occurredAt: new Date('2026-11-22T20:50:01.123Z'), type: 'login.failure', outcome: null, actor: null, subject: 'ålice "quoted" \\ back\u2028sep', clientId: null, ip: '2001:db8::1', requestId: null, node: 'host:1', detail: {} },
        '5996bf32e856e919c93c78511bbb57da539db35cec5755e93d3536ed32038937',
      ],
      [
        { occurredAt: new Date('2026-11-22T20:50:01.123Z'), type: 'x', outcome: 'failure', actor: 'a', subject: null, clientId: 'c', ip: null, requestId: 'r', node: 'n', detail: { scope: undefined, grantType: 'client_credentials', n: null, f: 1.5, t: true } },
        'b08356607873b33b50ea51c83bf548f873d0965cfd803848798beae7387ef621',
      ],
    ];
    for (const [row, digest] of cases) expect(contentDigest(row).toString('hex')).toBe(digest);
  });
});

describe('protection settings', () => {
  it('reads budgets, thresholds and proxy lists, and refuses contradictions', () => {
    const config = loadConfig({ GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=off,client=5/30s', GATEHOUSE_TRUST_PROXY: 'true', GATEHOUSE_TRUSTED_PROXIES: '10.0.0.0/8, ::1' });
    expect(config.rateLimits.budgets.token).toEqual({ ip: undefined, client: { count: 5, windowSeconds: 30 } });
    expect(config.trustedProxies).toEqual(['10.0.0.0/8', '::1']);
    expect(() => loadConfig({ GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=lots' })).toThrow(/GATEHOUSE_RATE_LIMIT_TOKEN: expected ip=COUNT\/WINDOW/);
    expect(() => loadConfig({ GATEHOUSE_TRUSTED_PROXIES: '10.0.0.0/33', GATEHOUSE_TRUST_PROXY: 'true' })).toThrow(/unparseable: 10\.0\.0\.0\/33/);
    expect(() => loadConfig({ GATEHOUSE_TRUST_PROXY: 'true' })).toThrow(/name the proxies in GATEHOUSE_TRUSTED_PROXIES/);
    expect(() => loadConfig({ GATEHOUSE_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' })).toThrow(/set both or neither/);
    expect(() => loadConfig({ GATEHOUSE_METRICS_TOKEN: 'short' })).toThrow(/GATEHOUSE_METRICS_TOKEN/);
  });
});
