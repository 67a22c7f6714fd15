/**
 * /admin/v1/api-keys and /admin/v1/exchange-policies (issue 18): a key made
 * through the API is shown once and really works at the token endpoint
 * through a policy set through the API; revocation and policy removal stop
 * the next exchange; listing and reading never carry the value; every answer
 * is checked against the served OpenAPI document; negative paths name the
 * offending field; writes are audited with the admin actor.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { apiKeyPattern } from '../../../src/api-keys/format.js';
import { operator } from '../../../src/audit/events.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminCaller, adminServiceClient, createContract, type AdminAnswer } from './helpers.js';

const api = 'https://orders.example.test';
const other = 'https://other.example.test';
const grant = 'urn:ietf:params:oauth:grant-type:token-exchange';
const apiKeyType = 'urn:gatehouse:params:oauth:token-type:api-key';

type Json = Record<string, unknown>;

describe('admin API: API keys and token-exchange policies', () => {
  let gh: TestGatehouse;
  let call: ReturnType<typeof adminCaller>;
  let writer: string;
  let reader: string;
  let auditor: string;
  let gateway: { clientId: string; clientSecret: string | undefined };
  let userId: string;
  const answers: AdminAnswer[] = [];

  const exchangeKey = (value: string) =>
    fetch(`${gh.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${gateway.clientId}:${gateway.clientSecret!}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: grant, subject_token_type: apiKeyType, subject_token: value, audience: api }),
    });
  const body = (answer: AdminAnswer) => answer.body as Json;
  const auditedActor = async (type: string, subject: string) => {
    await gh.app.audit.flush();
    const events = body(await call('GET', `/audit/events?type=${type}&limit=50`, { token: auditor })).items as Array<{ subject: string; actor: string }>;
    return events.find((e) => e.subject === subject)?.actor;
  };

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off' } });
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Json;
    const checked = adminCaller(gh, createContract(document));
    call = async (method, path, options) => {
      const answer = await checked(method, path, options);
      answers.push(answer);
      return answer;
    };
    writer = await (await adminServiceClient(gh, ['admin:clients.read', 'admin:clients.write'])).token();
    reader = await (await adminServiceClient(gh, ['admin:clients.read'])).token();
    auditor = await (await adminServiceClient(gh, ['admin:audit.read'])).token();
    await gh.app.services.resources.add(operator, { audience: api, name: 'Orders', scopes: ['read', 'write'], accessTokenTtl: 600, rbac: false });
    await gh.app.services.resources.add(operator, { audience: other, name: 'Other', scopes: ['read'], accessTokenTtl: 600, rbac: false });
    gateway = await gh.createClient({ type: 'service', name: 'gateway' });
    userId = (await gh.createUser()).id;
  });
  afterAll(() => gh?.close());

  it('sets a policy, makes a key shown once that works at /token, lists it without its value, revokes it: the next exchange is refused', async () => {
    const created = await call('PUT', `/exchange-policies/${gateway.clientId}`, { token: writer, body: { audiences: [api], max_lifetime_seconds: 120 } });
    expect(created.status).toBe(201);
    expect(body(created)).toMatchObject({ client_id: gateway.clientId, audiences: [api], may_impersonate: false, max_lifetime_seconds: 120 });

    const made = await call('POST', '/api-keys', {
      token: writer,
      body: { owner: { kind: 'user', id: userId }, name: 'nightly export', scopes: ['read'], expires_in: 3600, allowed_cidrs: ['127.0.0.0/8', '::1/128'], rate_limit: { count: 5, window_seconds: 60 } },
    });
    expect(made.status).toBe(201);
    expect(made.headers.get('cache-control')).toBe('no-store');
    const { api_key: key, key: value } = body(made) as { api_key: { id: string }; key: string };
    expect(value).toMatch(apiKeyPattern);
    expect(made.headers.get('location')).toBe(`/admin/v1/api-keys/${key.id}`);
    expect(key).toMatchObject({ status: 'active', owner: { kind: 'user', id: userId }, scopes: ['read'], rate_limit: { count: 5, window_seconds: 60 }, last_used_at: null });

    const exchanged = await exchangeKey(value);
    expect(exchanged.status).toBe(200);
    const jwt = decodeJwt(((await exchanged.json()) as { access_token: string }).access_token);
    expect(jwt).toMatchObject({ sub: userId, aud: api, scope: 'read' });

    const read = await call('GET', `/api-keys/${key.id}`, { token: reader });
    expect(read.status).toBe(200);
    expect(body(read).last_used_at).not.toBeNull();
    expect(body(read).last_used_ip).toMatch(/127\.0\.0\.1|::1/);
    const listed = await call('GET', `/api-keys?owner=user:${encodeURIComponent(userId)}`, { token: reader });
    expect((body(listed).items as Json[]).map((k) => k.id)).toEqual([key.id]);
    expect((await call('GET', '/api-keys?owner=user:nobody', { token: reader })).body).toEqual({ items: [], next_cursor: null });
    // The value appears in exactly one answer: the one that made it.
    expect(answers.filter((a) => a.text.includes(value))).toEqual([made]);

    const revoked = await call('POST', `/api-keys/${key.id}/revoke`, { token: writer });
    expect(revoked.status).toBe(200);
    expect(body(revoked).status).toBe('revoked');
    expect(((await exchangeKey(value).then((r) => r.json())) as { error: string }).error).toBe('invalid_request');
    const again = await call('POST', `/api-keys/${key.id}/revoke`, { token: writer });
    expect(again.status).toBe(409);
    expect((await call('POST', `/api-keys/${key.id}/rotate`, { token: writer, body: {} })).status).toBe(409);

    expect(await auditedActor('api_key.created', key.id)).toMatch(/^admin:/);
    expect(await auditedActor('api_key.revoked', key.id)).toMatch(/^admin:/);
  });

  it('rotates a key with an overlap: both values work, the old one until its shortened expiry', async () => {
    const made = body(await call('POST', '/api-keys', { token: writer, body: { owner: { kind: 'client', id: gateway.clientId }, name: 'ci', scopes: ['read'], expires_in: 86_400 } })) as { api_key: { id: string }; key: string };
    const rotated = await call('POST', `/api-keys/${made.api_key.id}/rotate`, { token: writer, body: { overlap_seconds: 600 } });
    expect(rotated.status).toBe(201);
    const r = body(rotated) as { api_key: { id: string; rotated_from: string }; key: string; previous: { id: string; expires_at: string } };
    expect(r.api_key.rotated_from).toBe(made.api_key.id);
    expect(r.previous.id).toBe(made.api_key.id);
    expect(new Date(r.previous.expires_at).getTime() - Date.now()).toBeLessThanOrEqual(600_000);
    expect(r.key).not.toBe(made.key);
    expect((await exchangeKey(made.key)).status).toBe(200);
    expect((await exchangeKey(r.key)).status).toBe(200);
  });

  it('refuses bad key requests with problem details naming the field', async () => {
    const unknownOwner = await call('POST', '/api-keys', { token: writer, body: { owner: { kind: 'client', id: 'no-such-client' }, name: 'x', expires_in: 3600 } });
    expect(unknownOwner.status).toBe(400);
    expect(body(unknownOwner).fields).toEqual(['body.owner']);
    const cases: Array<[Json, string]> = [
      [{ owner: { kind: 'user', id: userId }, name: 'x', expires_in: 3600, value: 'ghk_chosen' }, 'body.value'],
      [{ owner: { kind: 'user', id: userId }, name: 'x', expires_in: 10 * 366 * 86_400 }, 'body.expires_in'],
      [{ owner: { kind: 'user', id: userId }, name: 'x', expires_in: 3600, allowed_cidrs: ['10.0.0.0/33'] }, 'body.allowed_cidrs.0'],
      [{ owner: { kind: 'group', id: userId }, name: 'x', expires_in: 3600 }, 'body.owner.kind'],
      [{ owner: { kind: 'user', id: userId }, name: 'x', expires_in: 3600, scopes: ['a b'] }, 'body.scopes.0'],
    ];
    for (const [request, field] of cases) {
      const answer = await call('POST', '/api-keys', { token: writer, body: request });
      expect(answer.status, field).toBe(400);
      expect(body(answer).fields, field).toContain(field);
    }
    expect((await call('GET', '/api-keys/key_0000', { token: reader })).status).toBe(404);
    expect((await call('POST', '/api-keys/key_0000/revoke', { token: writer })).status).toBe(404);
    expect((await call('GET', '/api-keys?owner=team:x', { token: reader })).status).toBe(400);
    // A reader may not write.
    expect((await call('POST', '/api-keys', { token: reader, body: { owner: { kind: 'user', id: userId }, name: 'x', expires_in: 3600 } })).status).toBe(403);
  });

  it('replaces, lists, reads and removes a policy; removal refuses the next exchange; bad policies are refused', async () => {
    const client = await gh.createClient({ type: 'service', name: 'second' });
    expect((await call('GET', `/exchange-policies/${client.clientId}`, { token: reader })).status).toBe(404);
    expect((await call('PUT', `/exchange-policies/${client.clientId}`, { token: writer, body: { audiences: [api] } })).status).toBe(201);
    const replaced = await call('PUT', `/exchange-policies/${client.clientId}`, { token: writer, body: { audiences: [api, other], may_impersonate: true, max_lifetime_seconds: 60 } });
    expect(replaced.status).toBe(200);
    expect(body(replaced)).toMatchObject({ audiences: [api, other], may_impersonate: true, max_lifetime_seconds: 60 });
    expect(body(await call('GET', `/exchange-policies/${client.clientId}`, { token: reader }))).toEqual(body(replaced));
    const first = await call('GET', '/exchange-policies?limit=1', { token: reader });
    const second = await call('GET', `/exchange-policies?limit=1&cursor=${String(body(first).next_cursor)}`, { token: reader });
    expect([...(body(first).items as Json[]), ...(body(second).items as Json[])].map((p) => p.client_id).sort()).toEqual([gateway.clientId, client.clientId].sort());

    const unknownAudience = await call('PUT', `/exchange-policies/${client.clientId}`, { token: writer, body: { audiences: ['https://nowhere.example.test'] } });
    expect(unknownAudience.status).toBe(400);
    expect(body(unknownAudience).fields).toEqual(['body.audiences']);
    expect(body(unknownAudience).detail).not.toMatch(/Error|at \//);
    expect((await call('PUT', `/exchange-policies/${client.clientId}`, { token: writer, body: { audiences: [api], max_lifetime_seconds: 0 } })).status).toBe(400);
    expect(body(await call('PUT', `/exchange-policies/${client.clientId}`, { token: writer, body: { audiences: [api], mayImpersonate: true } })).fields).toContain('body.mayImpersonate');
    expect((await call('PUT', '/exchange-policies/no-such-client', { token: writer, body: { audiences: [api] } })).status).toBe(404);
    // The refused writes changed nothing.
    expect(body(await call('GET', `/exchange-policies/${client.clientId}`, { token: reader }))).toEqual(body(replaced));

    const key = await gh.app.services.apiKeys.create(operator, { owner: { kind: 'user', id: userId }, name: 'k', scopes: ['read'], expiresInSeconds: 3600 });
    expect((await exchangeKey(key.value)).status).toBe(200);
    expect((await call('DELETE', `/exchange-policies/${gateway.clientId}`, { token: writer })).status).toBe(204);
    expect(((await exchangeKey(key.value).then((r) => r.json())) as { error: string }).error).toBe('unauthorized_client');
    expect((await call('DELETE', `/exchange-policies/${gateway.clientId}`, { token: writer })).status).toBe(404);

    expect(await auditedActor('client.exchange_policy_set', client.clientId)).toMatch(/^admin:/);
    expect(await auditedActor('client.exchange_policy_removed', gateway.clientId)).toMatch(/^admin:/);
  });

  it('registers a client for the device authorization grant (device_flow), and refuses it for a service client', async () => {
    const created = await call('POST', '/clients', { token: writer, body: { type: 'public', name: 'TV', device_flow: true, scope: 'openid' } });
    expect(created.status).toBe(201);
    const client = (body(created).client as { grant_types: string[]; redirect_uris: string[] });
    expect(client.grant_types).toEqual(['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token']);
    expect(client.redirect_uris).toEqual([]);
    const both = body(await call('POST', '/clients', { token: writer, body: { type: 'confidential', name: 'Web and TV', device_flow: true, redirect_uris: ['https://app.example.test/cb'] } })).client as { grant_types: string[] };
    expect(both.grant_types).toEqual(['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code', 'refresh_token']);
    const service = await call('POST', '/clients', { token: writer, body: { type: 'service', name: 'svc', device_flow: true } });
    expect(service.status).toBe(400);
    expect(body(service).fields).toEqual([expect.stringMatching(/^body\.device_?flow$/i)]);
    // Without the flag a public client still needs a redirect URI.
    expect((await call('POST', '/clients', { token: writer, body: { type: 'public', name: 'nothing' } })).status).toBe(400);
  });
});
