/**
 * Security headers on pages and API responses, HSTS only over TLS (here: a
 * trusted proxy that says so), and no-store wherever a token or a sign-in
 * page is in the response.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, tokenRequest } from '../../support/requests.js';

describe('security headers', () => {
  let gh: TestGatehouse;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_TRUST_PROXY: 'true', GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1' } });
  });
  afterAll(() => gh?.close());

  const common = (headers: Headers) => {
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('x-frame-options')).toBe('DENY');
    const csp = headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  };

  it('sends them on token responses, with no-store, and no HSTS over plain HTTP', async () => {
    const client = await gh.createClient({ type: 'service', name: 'headers' });
    const response = await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(client.clientId, client.clientSecret!) });
    expect(response.status).toBe(200);
    common(response.headers);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('strict-transport-security')).toBeNull();
  });

  it('sends HSTS when a trusted proxy says the request came over TLS', async () => {
    const response = await fetch(`${gh.issuer}/.well-known/openid-configuration`, { headers: { 'x-forwarded-proto': 'https' } });
    common(response.headers);
    expect(response.headers.get('strict-transport-security')).toBe('max-age=63072000; includeSubDomains');
  });

  it('sends them, with no-store, on error pages for people', async () => {
    const response = await fetch(`${gh.issuer}/interaction/unknown-interaction`);
    expect(response.status).toBe(400);
    common(response.headers);
    expect(response.headers.get('cache-control')).toContain('no-store');
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  });
});
