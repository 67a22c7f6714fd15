/**
 * Key rotation under load, as a relying party sees it: no failed request, and
 * every token verifies against the JWKS that a relying party caching it for
 * the configured lifetime holds at that moment.
 */
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { operator } from '../../../src/audit/events.js';

const api = 'https://api.example.test';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fetchJwks(issuer: string): Promise<JSONWebKeySet> {
  const response = await fetch(`${issuer}/jwks`);
  expect(response.headers.get('cache-control')).toBe('public, max-age=2');
  return (await response.json()) as JSONWebKeySet;
}

describe('signing key rotation', () => {
  let gh: TestGatehouse;
  let auth: string;

  beforeAll(async () => {
    gh = await startTestGatehouse({
      // Rate limiting off: this is a load test of rotation, not of the limiter.
      env: { GATEHOUSE_KEY_PUBLISH_DELAY: '3s', GATEHOUSE_JWKS_MAX_AGE: '2s', GATEHOUSE_KEY_ROTATION_INTERVAL: '1h', GATEHOUSE_KEY_CHECK_INTERVAL: '1s', GATEHOUSE_RATE_LIMITING: 'false' },
    });
    await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'API', scopes: ['read'], accessTokenTtl: 60 });
    const client = await gh.createClient({ type: 'service', name: 'load' });
    auth = basic(client.clientId, client.clientSecret!);
  });
  afterAll(() => gh?.close());

  it('rotates under continuous issuance with no failed request and no unknown kid for a caching relying party', async () => {
    const issued: Array<{ token: string; cached: JSONWebKeySet }> = [];
    let failures = 0;
    let cached = await fetchJwks(gh.issuer);
    let stop = false;
    // The relying party refreshes its cache exactly when max-age says it may.
    const refresher = (async () => {
      while (!stop) {
        await sleep(2000);
        cached = await fetchJwks(gh.issuer);
      }
    })();
    const worker = async () => {
      while (!stop) {
        const response = await fetch(`${gh.issuer}/token`, {
          method: 'POST',
          headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=client_credentials&resource=${encodeURIComponent(api)}&scope=read`,
        });
        if (response.status !== 200) failures += 1;
        else issued.push({ token: ((await response.json()) as { access_token: string }).access_token, cached });
      }
    };
    const workers = Array.from({ length: 16 }, worker);
    const before = (await gh.app.services.keystore.list()).find((k) => k.alg === 'ES256' && k.state === 'active')!.kid;
    await sleep(800);
    const staged = await gh.app.services.keystore.rotate(operator, { alg: 'ES256' });
    await sleep(5000);
    stop = true;
    await Promise.all([...workers, refresher]);

    expect(failures).toBe(0);
    expect(issued.length).toBeGreaterThan(300);
    const kids = new Set(issued.map((i) => decodeProtectedHeader(i.token).kid));
    expect(kids).toEqual(new Set([before, staged.kid]));
    for (const { token, cached: jwks } of issued) {
      await jwtVerify(token, createLocalJWKSet(jwks), { issuer: gh.issuer, audience: api });
    }
    // The retired key is still published: every token verifies against a JWKS fetched now.
    const latest = createLocalJWKSet(await fetchJwks(gh.issuer));
    for (const { token } of issued) await jwtVerify(token, latest, { issuer: gh.issuer, audience: api });
    const states = Object.fromEntries((await gh.app.services.keystore.list()).map((k) => [k.kid, k.state]));
    expect(states[before]).toBe('retired');
    expect(states[staged.kid]).toBe('active');
  });

  it('publishes a staged key before it signs and keeps signing with the active one', async () => {
    const activeBefore = (await gh.app.services.keystore.list()).find((k) => k.alg === 'ES256' && k.state === 'active')!.kid;
    const staged = await gh.app.services.keystore.rotate(operator, { alg: 'ES256' });
    await gh.app.keys.refresh('test');
    const jwks = await fetchJwks(gh.issuer);
    expect(jwks.keys.map((k) => k.kid)).toContain(staged.kid);
    for (const k of jwks.keys) {
      expect(k).not.toHaveProperty('d');
      expect(k).not.toHaveProperty('key_ops');
    }
    const response = await fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&resource=${encodeURIComponent(api)}` });
    const { access_token } = (await response.json()) as { access_token: string };
    expect(decodeProtectedHeader(access_token).kid).toBe(activeBefore);
    await sleep(3200);
    const after = await fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&resource=${encodeURIComponent(api)}` });
    expect(decodeProtectedHeader(((await after.json()) as { access_token: string }).access_token).kid).toBe(staged.kid);
  });

  it('revokes a key out of the JWKS at once; its tokens stop verifying; a successor signs', async () => {
    const mint = async () => {
      const r = await fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&resource=${encodeURIComponent(api)}` });
      return ((await r.json()) as { access_token: string }).access_token;
    };
    const token = await mint();
    const kid = decodeProtectedHeader(token).kid!;
    const result = await gh.app.services.keystore.revoke(operator, kid);
    expect(result.successor?.kid).toBeDefined();
    const started = Date.now();
    let jwks = await fetchJwks(gh.issuer);
    while (jwks.keys.some((k) => k.kid === kid) && Date.now() - started < 3000) {
      await sleep(50);
      jwks = await fetchJwks(gh.issuer);
    }
    expect(jwks.keys.map((k) => k.kid)).not.toContain(kid);
    await expect(jwtVerify(token, createLocalJWKSet(jwks), { issuer: gh.issuer, audience: api })).rejects.toThrow(/no applicable key/i);
    const fresh = await mint();
    expect(decodeProtectedHeader(fresh).kid).toBe(result.successor!.kid);
    await jwtVerify(fresh, createLocalJWKSet(jwks), { issuer: gh.issuer, audience: api });
  });

  it('keeps a retired key published until its tokens expire, then removes it', async () => {
    const list = await gh.app.services.keystore.list();
    const rs = list.find((k) => k.alg === 'RS256' && k.state === 'active')!;
    const { successor } = await gh.app.services.keystore.retire(operator, rs.kid);
    expect(successor?.how).toBe('created');
    const now = Date.now();
    const retired = (await gh.app.services.keystore.list()).find((k) => k.kid === rs.kid)!;
    expect(retired.state).toBe('retired');
    // Retention = the longest token lifetime (1h ID tokens by default) + skew.
    expect(retired.unpublishAt!.getTime() - now).toBeGreaterThanOrEqual(3600 * 1000);
    const justBefore = await gh.app.services.keystore.load(new Date(retired.unpublishAt!.getTime() - 1000));
    expect(justBefore.publicJwks.keys.map((k) => k.kid)).toContain(rs.kid);
    const justAfter = await gh.app.services.keystore.load(new Date(retired.unpublishAt!.getTime() + 1000));
    expect(justAfter.publicJwks.keys.map((k) => k.kid)).not.toContain(rs.kid);
    const run = await gh.app.services.keystore.runSchedule(new Date(retired.unpublishAt!.getTime() + 1000));
    expect(run?.removed).toContain(rs.kid);
  });

  it('refuses to retire or revoke what does not exist or is already gone', async () => {
    await expect(gh.app.services.keystore.retire(operator, 'no-such-kid')).rejects.toThrow(/no key/);
    const revoked = (await gh.app.services.keystore.list()).find((k) => k.state === 'revoked')!;
    await expect(gh.app.services.keystore.revoke(operator, revoked.kid)).rejects.toThrow(/already revoked/);
  });
});
