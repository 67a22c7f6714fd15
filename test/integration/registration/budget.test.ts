/**
 * The registration budget: anonymous requests stay on the tight per-address
 * budget, and a request carrying a valid initial access token spends that
 * token's own budget instead, so one CI runner registering (and retrying) with
 * an operator's token is not stopped by its address. A made-up, revoked or
 * used-up token buys nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { parseRateLimitField } from '../../support/requests.js';
import { mintToken, webClient } from './helpers.js';

describe('the registration budget per initial access token', () => {
  let gh: TestGatehouse;
  let address = 0;
  const from = () => `198.51.100.${(address += 1)}`;

  beforeAll(async () => {
    gh = await startTestGatehouse({
      env: {
        GATEHOUSE_REGISTRATION: 'token',
        GATEHOUSE_TRUST_PROXY: 'true',
        GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1',
        GATEHOUSE_RATE_LIMIT_REGISTRATION: 'ip=4/1h,client=60/1m',
        GATEHOUSE_RATE_LIMIT_REGISTRATION_TOKEN: '10/1h',
      },
    });
  });
  afterAll(() => gh?.close());

  const register = (ip: string, metadata: Record<string, unknown>, token?: string) =>
    fetch(`${gh.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(metadata),
    });

  it('counts requests with a valid token per token, not against the address', async () => {
    const ip = from();
    const token = await mintToken(gh, { maxUses: 100 });
    const statuses: number[] = [];
    let last: Response | undefined;
    // Registrations and failed retries (invalid metadata) alike: eight from one address, twice its budget.
    for (let i = 0; i < 8; i += 1) {
      last = await register(ip, i % 2 ? webClient : { ...webClient, redirect_uris: ['not a uri'] }, token.value);
      statuses.push(last.status);
      await last.body?.cancel();
    }
    expect(statuses).toEqual([400, 201, 400, 201, 400, 201, 400, 201]);
    expect(parseRateLimitField(last!.headers.get('ratelimit-policy'))).toEqual({ 'registration-token': { q: 10, w: 3600 } });
    // The address's own budget is untouched: four anonymous attempts, then 429.
    const anonymous: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      const response = await register(ip, webClient);
      anonymous.push(response.status);
      await response.body?.cancel();
    }
    expect(anonymous).toEqual([401, 401, 401, 401, 429]);
  });

  it('stops a token at its own budget with 429 and Retry-After', async () => {
    const token = await mintToken(gh, { maxUses: 100 });
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 12; i += 1) {
      // Spread over addresses: the token's budget decides, not any address's.
      const response = await register(from(), { ...webClient, redirect_uris: ['not a uri'] }, token.value);
      statuses.push(response.status);
      if (response.status === 429) refused ??= response;
      else await response.body?.cancel();
    }
    expect(statuses).toEqual([...Array(10).fill(400), 429, 429]);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(parseRateLimitField(refused!.headers.get('ratelimit-policy'))).toEqual({ 'registration-token': { q: 10, w: 3600 } });
  });

  it('counts a made-up, revoked or used-up token against the address like no token', async () => {
    const ip = from();
    const revoked = await mintToken(gh);
    await gh.app.services.initialAccessTokens.revoke(operator, revoked.id);
    const usedUp = await mintToken(gh, { maxUses: 1 });
    const other = from();
    expect((await register(other, webClient, usedUp.value)).status).toBe(201);
    const statuses: number[] = [];
    for (const value of ['made-up-token-value', revoked.value, usedUp.value, 'another-made-up', usedUp.value]) {
      const response = await register(ip, webClient, value);
      statuses.push(response.status);
      await response.body?.cancel();
    }
    expect(statuses).toEqual([401, 401, 401, 401, 429]);
  });
});
