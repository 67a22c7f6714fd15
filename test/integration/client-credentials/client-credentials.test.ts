import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { operator } from '../../../src/audit/events.js';

const api = 'https://api.example.test';

describe('client credentials', () => {
  let gh: TestGatehouse;
  let service: { clientId: string; clientSecret: string | undefined };
  let rp: oidc.Configuration;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'Example API', scopes: ['read', 'write'], accessTokenTtl: 300 });
    service = await gh.createClient({ type: 'service', name: 'Billing worker' });
    rp = await oidc.discovery(new URL(gh.issuer), service.clientId, undefined, oidc.ClientSecretBasic(service.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => gh?.close());

  const tokenRequest = (body: Record<string, string>, authorization?: string, contentType = 'application/x-www-form-urlencoded') =>
    fetch(`${gh.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': contentType, ...(authorization ? { authorization } : {}) },
      body: new URLSearchParams(body),
    });
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

  it('issues an ES256 JWT access token (RFC 9068) that verifies against the published JWKS', async () => {
    const tokens = await oidc.clientCredentialsGrant(rp, { resource: api, scope: 'read' });
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBe(300);
    expect(tokens.scope).toBe('read');

    const header = decodeProtectedHeader(tokens.access_token);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const jwks = createRemoteJWKSet(new URL(`${gh.issuer}/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: gh.issuer, audience: api, typ: 'at+jwt', algorithms: ['ES256'] });
    expect(payload.client_id).toBe(service.clientId);
    expect(payload.sub).toBe(service.clientId);
    expect(payload.scope).toBe('read');
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(typeof payload.jti).toBe('string');
  });

  it('only grants scopes the resource server defines', async () => {
    const tokens = await oidc.clientCredentialsGrant(rp, { resource: api, scope: 'read admin' });
    expect(tokens.scope).toBe('read');
  });

  it('rejects a tampered token signature and a token for another audience', async () => {
    const tokens = await oidc.clientCredentialsGrant(rp, { resource: api, scope: 'read' });
    const jwks = createRemoteJWKSet(new URL(`${gh.issuer}/jwks`));
    const [h, p, s] = tokens.access_token.split('.');
    const flipped = `${s!.slice(0, 10)}${s![10] === 'A' ? 'B' : 'A'}${s!.slice(11)}`;
    await expect(jwtVerify(`${h}.${p}.${flipped}`, jwks, { issuer: gh.issuer, audience: api })).rejects.toThrow(/signature/);
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'read write' })).toString('base64url');
    await expect(jwtVerify(`${h}.${forged}.${s}`, jwks, { issuer: gh.issuer, audience: api })).rejects.toThrow(/signature/);
    await expect(jwtVerify(tokens.access_token, jwks, { issuer: gh.issuer, audience: 'https://other.example.test' })).rejects.toThrow(/aud/);
  });

  it('issues an opaque token when no resource is named, and introspection describes it', async () => {
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: '' });
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const info = await oidc.tokenIntrospection(rp, tokens.access_token);
    expect(info.active).toBe(true);
    expect(info.client_id).toBe(service.clientId);
    await oidc.tokenRevocation(rp, tokens.access_token);
    expect((await oidc.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
  });

  it('answers a wrong secret with 401 invalid_client and a WWW-Authenticate challenge (RFC 6749 §5.2)', async () => {
    const response = await tokenRequest({ grant_type: 'client_credentials' }, basic(service.clientId, 'not-the-secret'));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, string>;
    expect(body.error).toBe('invalid_client');
    expect(JSON.stringify(body)).not.toMatch(/secret|stack|node_modules/i);

    const wrong = oidc.ClientSecretBasic('not-the-secret');
    const bad = await oidc.discovery(new URL(gh.issuer), service.clientId, undefined, wrong, { execute: [oidc.allowInsecureRequests] });
    await expect(oidc.clientCredentialsGrant(bad)).rejects.toMatchObject({ status: 401, cause: [{ scheme: 'basic', parameters: { error: 'invalid_client' } }] });
  });

  it('rejects an unknown client, a missing authentication, and an unregistered resource', async () => {
    expect((await tokenRequest({ grant_type: 'client_credentials' }, basic('nobody', 'x'))).status).toBe(401);
    const anonymous = await tokenRequest({ grant_type: 'client_credentials' });
    expect(anonymous.status).toBe(400);
    expect(((await anonymous.json()) as { error: string }).error).toBe('invalid_request');
    await expect(oidc.clientCredentialsGrant(rp, { resource: 'https://unregistered.example.test' })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('refuses grant types the client was not registered for', async () => {
    await expect(oidc.refreshTokenGrant(rp, 'whatever')).rejects.toMatchObject({ error: 'unauthorized_client' });
  });

  it('stops authenticating a disabled client at once', async () => {
    const other = await gh.createClient({ type: 'service', name: 'Soon disabled' });
    const auth = basic(other.clientId, other.clientSecret!);
    expect((await tokenRequest({ grant_type: 'client_credentials' }, auth)).status).toBe(200);
    await gh.app.services.clients.setDisabled(operator, other.clientId, true);
    const response = await tokenRequest({ grant_type: 'client_credentials' }, auth);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('answers malformed and oversized requests with a clean 4xx', async () => {
    const auth = basic(service.clientId, service.clientSecret!);
    const cases: Array<Promise<Response>> = [
      fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: '{"grant_type":' }),
      fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&scope=${'a'.repeat(200_000)}` }),
      fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=%E0%A4%A' }),
      fetch(`${gh.issuer}/token`, { method: 'GET', headers: { authorization: auth } }),
      tokenRequest({ grant_type: 'urn:made:up' }, auth),
      tokenRequest({ grant_type: 'client_credentials', resource: 'not a url' }, auth),
      fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: 'Basic %%%', 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' }),
    ];
    for (const response of await Promise.all(cases)) {
      const text = await response.text();
      expect(response.status, text).toBeGreaterThanOrEqual(400);
      expect(response.status, text).toBeLessThan(500);
      expect(text).not.toMatch(/\bat .+\.(js|ts):\d+|node_modules|SELECT|oidc_models|TypeError/);
      expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});
