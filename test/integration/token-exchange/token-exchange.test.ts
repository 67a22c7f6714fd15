/**
 * RFC 8693 token exchange and API keys (issue 18 items 2 and 3): delegation
 * builds the `act` chain, every widening attempt is refused with the RFC's
 * code, and an API key is exchanged for a short-lived JWT only from its
 * address ranges, within its budget and until it is revoked.
 */
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { apiKeyPattern } from '../../../src/api-keys/format.js';
import { dumpDatabase } from '../../support/dump.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

const apiA = 'https://a.example.test';
const apiB = 'https://b.example.test';
const grant = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
const apiKeyType = 'urn:gatehouse:params:oauth:token-type:api-key';

interface Creds { clientId: string; clientSecret: string | undefined }

describe('token exchange (RFC 8693) and API keys', () => {
  let gh: TestGatehouse;
  let subjectClient: Creds;
  let gateway: Creds;
  let second: Creds;
  let outsider: Creds;
  let userId: string;

  const basic = (c: Creds) => `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret!)}`).toString('base64')}`;
  const token = (c: Creds, body: Record<string, string>) =>
    fetch(`${gh.issuer}/token`, { method: 'POST', headers: { authorization: basic(c), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const clientCredentials = async (c: Creds, resource: string, scope: string) => {
    const response = await token(c, { grant_type: 'client_credentials', resource, scope });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  };
  const exchange = (c: Creds, body: Record<string, string>) => token(c, { grant_type: grant, subject_token_type: accessTokenType, ...body });
  const refusal = async (response: Response) => ({ status: response.status, ...((await response.json()) as { error: string }) });

  beforeAll(async () => {
    gh = await startTestGatehouse();
    const { services } = gh.app;
    await services.resources.add(operator, { audience: apiA, name: 'A', scopes: ['read', 'write'], accessTokenTtl: 600, rbac: false });
    await services.resources.add(operator, { audience: apiB, name: 'B', scopes: ['read', 'write'], accessTokenTtl: 600, rbac: false });
    subjectClient = await gh.createClient({ type: 'service', name: 'caller' });
    gateway = await gh.createClient({ type: 'service', name: 'gateway' });
    second = await gh.createClient({ type: 'service', name: 'second hop' });
    outsider = await gh.createClient({ type: 'service', name: 'no policy' });
    // The gateway serves API A (it may introspect A's tokens), the second hop serves B.
    await services.clients.setAccess(operator, gateway.clientId, { introspects: [apiA] });
    await services.clients.setAccess(operator, second.clientId, { introspects: [apiB] });
    await services.clients.setAccess(operator, outsider.clientId, { introspects: [apiA] });
    await services.exchangePolicies.set(operator, gateway.clientId, { audiences: [apiB], maxLifetimeSeconds: 120 });
    await services.exchangePolicies.set(operator, second.clientId, { audiences: [apiA], maxLifetimeSeconds: 60 });
    userId = (await gh.createUser()).id;
  });
  afterAll(() => gh?.close());

  it('lists the grant in discovery', async () => {
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as { grant_types_supported: string[] };
    expect(discovery.grant_types_supported).toContain(grant);
  });

  it('delegation puts the actor in `act`, and a second hop nests the first', async () => {
    const subject = await clientCredentials(subjectClient, apiA, 'read write');
    const actor = await clientCredentials(gateway, apiA, 'read');
    const response = await exchange(gateway, { subject_token: subject, actor_token: actor, actor_token_type: accessTokenType, audience: apiB, scope: 'read' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { access_token: string; issued_token_type: string; token_type: string; expires_in: number; scope: string };
    expect(body).toMatchObject({ issued_token_type: accessTokenType, token_type: 'Bearer', expires_in: 120, scope: 'read' });
    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(`${gh.issuer}/jwks`)), { issuer: gh.issuer, audience: apiB, typ: 'at+jwt' });
    expect(payload).toMatchObject({ sub: subjectClient.clientId, scope: 'read', act: { sub: gateway.clientId } });

    const actor2 = await clientCredentials(second, apiB, 'read');
    const hop = await exchange(second, { subject_token: body.access_token, actor_token: actor2, actor_token_type: accessTokenType, resource: apiA });
    expect(hop.status).toBe(200);
    const hopBody = (await hop.json()) as { access_token: string; expires_in: number; scope: string };
    expect(hopBody.scope).toBe('read');
    expect(hopBody.expires_in).toBeLessThanOrEqual(60);
    expect(decodeJwt(hopBody.access_token)).toMatchObject({ sub: subjectClient.clientId, aud: apiA, act: { sub: second.clientId, act: { sub: gateway.clientId } } });
    await gh.app.audit.flush();
    const { rows } = await gh.app.db.query<{ actor: string; subject: string; client_id: string }>("SELECT actor, subject, client_id FROM audit_events WHERE type = 'token.exchanged' ORDER BY seq");
    expect(rows.slice(0, 2)).toEqual([
      { actor: gateway.clientId, subject: subjectClient.clientId, client_id: gateway.clientId },
      { actor: second.clientId, subject: subjectClient.clientId, client_id: second.clientId },
    ]);
  });

  it('refuses a client without an exchange policy: unauthorized_client', async () => {
    const subject = await clientCredentials(subjectClient, apiA, 'read');
    const actor = await clientCredentials(outsider, apiA, 'read');
    expect(await refusal(await exchange(outsider, { subject_token: subject, actor_token: actor, actor_token_type: accessTokenType, audience: apiB }))).toMatchObject({ status: 400, error: 'unauthorized_client' });
  });

  it('refuses impersonation (no actor_token) unless the policy allows it', async () => {
    const subject = await clientCredentials(subjectClient, apiA, 'read');
    expect(await refusal(await exchange(gateway, { subject_token: subject, audience: apiB }))).toMatchObject({ status: 400, error: 'unauthorized_client' });
    await gh.app.services.exchangePolicies.set(operator, gateway.clientId, { audiences: [apiB], maxLifetimeSeconds: 120, mayImpersonate: true });
    try {
      const response = await exchange(gateway, { subject_token: subject, audience: apiB });
      expect(response.status).toBe(200);
      const claims = decodeJwt(((await response.json()) as { access_token: string }).access_token);
      expect(claims.sub).toBe(subjectClient.clientId);
      expect(claims.act).toBeUndefined();
    } finally {
      await gh.app.services.exchangePolicies.set(operator, gateway.clientId, { audiences: [apiB], maxLifetimeSeconds: 120 });
    }
  });

  it('refuses every widening: more scope, another audience, the admin audience, a foreign actor, a garbled subject', async () => {
    const subject = await clientCredentials(subjectClient, apiA, 'read');
    const actor = await clientCredentials(gateway, apiA, 'read');
    const delegated = { subject_token: subject, actor_token: actor, actor_token_type: accessTokenType };
    const more = await refusal(await exchange(gateway, { ...delegated, audience: apiB, scope: 'read write' }));
    expect(more).toMatchObject({ status: 400, error: 'invalid_scope' });
    expect(await refusal(await exchange(gateway, { ...delegated, audience: apiA }))).toMatchObject({ status: 400, error: 'invalid_target' });
    expect(await refusal(await exchange(gateway, { ...delegated, audience: 'https://unknown.example.test' }))).toMatchObject({ status: 400, error: 'invalid_target' });
    expect(await refusal(await exchange(gateway, { ...delegated }))).toMatchObject({ status: 400, error: 'invalid_target' });
    expect(await refusal(await exchange(gateway, { ...delegated, audience: apiB, resource: apiA }))).toMatchObject({ status: 400, error: 'invalid_target' });
    const foreignActor = await clientCredentials(outsider, apiA, 'read');
    expect(await refusal(await exchange(gateway, { ...delegated, actor_token: foreignActor, audience: apiB }))).toMatchObject({ status: 400, error: 'invalid_request' });
    expect(await refusal(await exchange(gateway, { ...delegated, subject_token: `${subject.slice(0, -4)}AAAA`, audience: apiB }))).toMatchObject({ status: 400, error: 'invalid_request' });
    expect(await refusal(await exchange(gateway, { ...delegated, subject_token_type: 'urn:x:unknown', audience: apiB }))).toMatchObject({ status: 400, error: 'invalid_request' });
    expect(await refusal(await exchange(gateway, { ...delegated, requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token', audience: apiB }))).toMatchObject({ status: 400, error: 'invalid_request' });
    // A token for an API the gateway does not serve is not the gateway's to exchange.
    const overheard = await clientCredentials(subjectClient, apiB, 'read');
    expect(await refusal(await exchange(gateway, { ...delegated, subject_token: overheard, audience: apiB }))).toMatchObject({ status: 400, error: 'invalid_request' });
  });

  it('never outlives the subject token, and refuses a revoked one', async () => {
    const subject = await clientCredentials(subjectClient, apiA, 'read');
    const remaining = (decodeJwt(subject).exp! - Math.floor(Date.now() / 1000));
    const actor = await clientCredentials(gateway, apiA, 'read');
    const response = await exchange(gateway, { subject_token: subject, actor_token: actor, actor_token_type: accessTokenType, audience: apiB });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { expires_in: number }).expires_in).toBeLessThanOrEqual(Math.min(120, remaining));
    const revoke = await fetch(`${gh.issuer}/token/revocation`, { method: 'POST', headers: { authorization: basic(subjectClient), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: subject }) });
    expect(revoke.status).toBe(200);
    expect(await refusal(await exchange(gateway, { subject_token: subject, actor_token: actor, actor_token_type: accessTokenType, audience: apiB }))).toMatchObject({ status: 400, error: 'invalid_request' });
  });

  describe('API keys', () => {
    const keyExchange = (value: string, extra: Record<string, string> = {}) => token(gateway, { grant_type: grant, subject_token_type: apiKeyType, subject_token: value, audience: apiB, ...extra });

    it('exchanges a user\'s key for a short-lived JWT with at most its scopes, and records the use', async () => {
      const { key, value } = await gh.app.services.apiKeys.create(operator, { owner: { kind: 'user', id: userId }, name: 'laptop script', scopes: ['read'], expiresInSeconds: 3600 });
      expect(value).toMatch(apiKeyPattern);
      const response = await keyExchange(value);
      expect(response.status).toBe(200);
      const body = (await response.json()) as { access_token: string; expires_in: number; scope: string };
      expect(body.scope).toBe('read');
      expect(body.expires_in).toBeLessThanOrEqual(120);
      expect(decodeJwt(body.access_token)).toMatchObject({ sub: userId, client_id: gateway.clientId, aud: apiB, scope: 'read' });
      expect(await refusal(await keyExchange(value, { scope: 'write' }))).toMatchObject({ status: 400, error: 'invalid_scope' });
      const used = await gh.app.services.apiKeys.find(key.id);
      expect(used?.lastUsedAt).toBeInstanceOf(Date);
      expect(used?.lastUsedIp).toMatch(/127\.0\.0\.1/);
    });

    it('refuses a key from outside its address ranges, a mistyped one, and a revoked one at once', async () => {
      const outside = await gh.app.services.apiKeys.create(operator, { owner: { kind: 'client', id: subjectClient.clientId }, name: 'ci', scopes: ['read'], expiresInSeconds: 3600, allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'] });
      expect(await refusal(await keyExchange(outside.value))).toMatchObject({ status: 400, error: 'invalid_request' });
      const inside = await gh.app.services.apiKeys.create(operator, { owner: { kind: 'client', id: subjectClient.clientId }, name: 'ci', scopes: ['read'], expiresInSeconds: 3600, allowedCidrs: ['127.0.0.0/8'] });
      const ok = await keyExchange(inside.value);
      expect(ok.status).toBe(200);
      expect(decodeJwt(((await ok.json()) as { access_token: string }).access_token)).toMatchObject({ sub: subjectClient.clientId, client_id: subjectClient.clientId });
      const last = inside.value.at(-1) === 'A' ? 'B' : 'A';
      expect(await refusal(await keyExchange(`${inside.value.slice(0, -1)}${last}`))).toMatchObject({ status: 400, error: 'invalid_request' });
      await gh.app.services.apiKeys.revoke(operator, inside.key.id);
      expect(await refusal(await keyExchange(inside.value))).toMatchObject({ status: 400, error: 'invalid_request' });
    });

    it('answers 429 with Retry-After once a key has spent its budget', async () => {
      const { value } = await gh.app.services.apiKeys.create(operator, { owner: { kind: 'user', id: userId }, name: 'tight', scopes: ['read'], expiresInSeconds: 3600, rateLimit: { count: 2, windowSeconds: 60 } });
      expect((await keyExchange(value)).status).toBe(200);
      expect((await keyExchange(value)).status).toBe(200);
      const over = await keyExchange(value);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await over.json()) as { error: string }).error).toBe('temporarily_unavailable');
    });

    it('rotation keeps the old key working through the overlap only', async () => {
      const first = await gh.app.services.apiKeys.create(operator, { owner: { kind: 'user', id: userId }, name: 'rotating', scopes: ['read'], expiresInSeconds: 3600 });
      const rotated = await gh.app.services.apiKeys.rotate(operator, first.key.id, { overlapSeconds: 0 });
      expect(rotated.key.rotatedFrom).toBe(first.key.id);
      expect((await keyExchange(rotated.value)).status).toBe(200);
      expect(await refusal(await keyExchange(first.value))).toMatchObject({ status: 400, error: 'invalid_request' });
      const again = await gh.app.services.apiKeys.rotate(operator, rotated.key.id, { overlapSeconds: 600 });
      expect((await keyExchange(rotated.value)).status).toBe(200);
      expect((await keyExchange(again.value)).status).toBe(200);
    });

    it('leaves no usable key in a database dump', async () => {
      const { value } = await gh.app.services.apiKeys.create(operator, { owner: { kind: 'user', id: userId }, name: 'dumped', scopes: [], expiresInSeconds: 3600 });
      const dump = await dumpDatabase(gh.app.db);
      for (const form of [value, value.slice(4), Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')]) expect(dump.includes(form)).toBe(false);
    });
  });
});
