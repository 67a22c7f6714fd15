/**
 * The admin API v1 (issue 14) against a real Gatehouse: the OpenAPI document
 * validates; every answer in this file is checked against it (contract); the
 * authorisation matrix over every operation; OWASP API Top 10 checks; client
 * secret rotation with overlap at the real token endpoint.
 */
import { validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { adminScopes, type AdminScope } from '../../../src/resources/admin-audience.js';
import { adminOperations } from '../../../src/admin/index.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, fetchNonce, proof, proofKey } from '../dpop/helpers.js';
import { adminCaller, adminServiceClient, createContract, mintToken, secretLookingValues, type AdminAnswer, type Contract } from './helpers.js';

const mfa = 'urn:gatehouse:acr:mfa';

describe('admin API v1', () => {
  let gh: TestGatehouse;
  let contract: Contract;
  let call: ReturnType<typeof adminCaller>;
  let full: string;
  const answers: AdminAnswer[] = [];

  beforeAll(async () => {
    // A budget the matrix cannot spend; the rate-limit suite below sets its own.
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off' } });
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Record<string, unknown>;
    contract = createContract(document);
    const checked = adminCaller(gh, contract);
    call = async (method, path, options) => {
      const answer = await checked(method, path, options);
      answers.push(answer);
      return answer;
    };
    full = await (await adminServiceClient(gh, adminScopes)).token();
  });
  afterAll(() => gh?.close());

  describe('OpenAPI document', () => {
    it('is a valid OpenAPI 3.1 document', async () => {
      const document = await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json();
      const result = await validate(structuredClone(document) as never);
      expect(result.valid, JSON.stringify(result)).toBe(true);
      expect((document as { openapi: string }).openapi).toBe('3.1.0');
    });

    it('documents every route the router serves, with its scope and Gatehouse’s own endpoints', async () => {
      const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as {
        paths: Record<string, Record<string, { operationId: string; security: Array<Record<string, string[]>> }>>;
        components: { securitySchemes: { gatehouse: { flows: { clientCredentials: { tokenUrl: string } } } } };
      };
      const documented = new Map(Object.entries(document.paths).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => [`${m.toUpperCase()} ${path}`, op] as const)));
      for (const op of adminOperations(gh.app.services, { search: async () => [], verify: async () => ({ ok: true, rows: 0, head: { seq: 0, hash: '' }, problems: [] }) }, gh.issuer)) {
        const doc = documented.get(`${op.method} ${op.path}`);
        expect(doc, `${op.method} ${op.path}`).toBeDefined();
        expect(doc!.security).toEqual([{ gatehouse: [op.scope] }]);
      }
      expect(document.components.securitySchemes.gatehouse.flows.clientCredentials.tokenUrl).toBe(`${gh.issuer}/token`);
    });

    it('the contract checker fails for an undocumented route and an undocumented status', () => {
      const answer = { status: 200, headers: new Headers({ 'content-type': 'application/json' }), body: {}, text: '{}' };
      expect(() => contract.check('GET', '/admin/v1/nowhere', answer)).toThrow(/no documented operation/);
      expect(() => contract.check('GET', '/admin/v1/users', { ...answer, status: 418 })).toThrow(/does not list/);
      expect(() => contract.check('GET', '/admin/v1/users', { ...answer, body: { items: 'x' } })).toThrow(/does not match/);
    });
  });

  describe('users', () => {
    it('creates, reads, lists with a cursor, updates with If-Match, disables and sets a password', async () => {
      const created = await call('POST', '/users', { token: full, body: { username: 'alice-admin-api', password: 'correct horse battery staple', email: 'alice@example.test' } });
      expect(created.status).toBe(201);
      const user = created.body as { id: string; username: string; admin: boolean };
      expect(user.username).toBe('alice-admin-api');
      expect(user.admin).toBe(false);
      for (let i = 0; i < 3; i += 1) await gh.createUser();

      const first = await call('GET', '/users?limit=2', { token: full });
      expect(first.status).toBe(200);
      const page1 = first.body as { items: Array<{ id: string }>; next_cursor: string };
      expect(page1.items).toHaveLength(2);
      const second = await call('GET', `/users?limit=2&cursor=${page1.next_cursor}`, { token: full });
      const page2 = second.body as { items: Array<{ id: string }> };
      expect(page2.items.map((u) => u.id)).not.toContain(page1.items[0]!.id);
      const filtered = await call('GET', '/users?q=alice-admin', { token: full });
      expect((filtered.body as { items: Array<{ id: string }> }).items.map((u) => u.id)).toEqual([user.id]);

      const read = await call('GET', `/users/${user.id}`, { token: full });
      const etag = read.headers.get('etag')!;
      expect(etag).toMatch(/^"\d+\.[0-9a-z]+"$/);
      expect((await call('PATCH', `/users/${user.id}`, { token: full, body: { name: 'Alice' } })).status).toBe(428);
      const updated = await call('PATCH', `/users/${user.id}`, { token: full, body: { name: 'Alice' }, headers: { 'if-match': etag } });
      expect(updated.status).toBe(200);
      expect((updated.body as { name: string }).name).toBe('Alice');
      // The same (now stale) ETag again: a lost update is refused.
      const stale = await call('PATCH', `/users/${user.id}`, { token: full, body: { name: 'Mallory' }, headers: { 'if-match': etag } });
      expect(stale.status).toBe(412);
      expect((await gh.app.services.accounts.findById(user.id))!.name).toBe('Alice');

      expect((await call('POST', `/users/${user.id}/disable`, { token: full })).status).toBe(200);
      expect((await gh.app.services.accounts.findById(user.id))!.disabled).toBe(true);
      expect((await call('POST', `/users/${user.id}/enable`, { token: full })).status).toBe(200);
      expect((await call('PUT', `/users/${user.id}/password`, { token: full, body: { password: 'another long passphrase' } })).status).toBe(204);
      expect((await gh.app.services.accounts.authenticate('alice-admin-api', 'another long passphrase')).ok).toBe(true);
      // NIST SP 800-63B: a common password and the account's own name are refused as a bad field, and the old password stands.
      const common = await call('PUT', `/users/${user.id}/password`, { token: full, body: { password: 'qwerty123456!' } });
      expect(common.status).toBe(400);
      expect(common.body).toMatchObject({ type: 'urn:gatehouse:problem:validation', detail: 'password is on a list of common or breached passwords: choose another', fields: ['body.password'] });
      const ownName = await call('PUT', `/users/${user.id}/password`, { token: full, body: { password: 'alice-admin-api-2024' } });
      expect(ownName.status).toBe(400);
      expect((ownName.body as { detail: string }).detail).toMatch(/username, email or name/);
      expect((await gh.app.services.accounts.authenticate('alice-admin-api', 'another long passphrase')).ok).toBe(true);
      expect((await call('POST', `/users/${user.id}/unlock`, { token: full })).status).toBe(200);
      const factor = await call('GET', `/users/${user.id}/second-factor`, { token: full });
      expect(factor.body).toMatchObject({ enrolled: false, recovery_codes_left: 0 });
      expect((await call('DELETE', `/users/${user.id}/second-factor`, { token: full })).status).toBe(404);
      expect((await call('GET', '/users/no-such-user', { token: full })).status).toBe(404);
    });

    it('refuses unknown and read-only fields by name (no mass assignment)', async () => {
      const answer = await call('POST', '/users', { token: full, body: { username: 'mass-assign', password: 'correct horse battery staple', admin: true, id: 'chosen', password_hash: 'x' } });
      expect(answer.status).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect((answer.body as { fields: string[] }).fields.sort()).toEqual(['body.admin', 'body.id', 'body.password_hash']);
      expect(await gh.app.services.accounts.find('mass-assign')).toBeUndefined();
      const user = await gh.createUser();
      const etag = (await call('GET', `/users/${user.id}`, { token: full })).headers.get('etag')!;
      const patch = await call('PATCH', `/users/${user.id}`, { token: full, body: { username: 'renamed', created_at: '2020-01-01T00:00:00Z' }, headers: { 'if-match': etag } });
      expect(patch.status).toBe(400);
      expect((patch.body as { fields: string[] }).fields.sort()).toEqual(['body.created_at', 'body.username']);
      expect((await call('POST', '/users', { token: full, body: '{"username":' })).status).toBe(400);
      expect((await call('POST', '/users', { token: full, body: { username: 'x', password: 'short' } })).status).toBe(400);
    });
  });

  describe('clients and secret rotation', () => {
    const tokenWith = (clientId: string, secret: string) =>
      fetch(`${gh.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      }).then((r) => r.status);

    it('creates a client showing its secret once, lists, disables, enables and deletes it', async () => {
      const created = await call('POST', '/clients', { token: full, body: { type: 'service', name: 'Reporting job' } });
      expect(created.status).toBe(201);
      const { client, client_secret: secret } = created.body as { client: { client_id: string }; client_secret: string };
      expect(secret).toMatch(/^[\w-]{43}$/);
      expect(await tokenWith(client.client_id, secret)).toBe(200);
      const read = await call('GET', `/clients/${client.client_id}`, { token: full });
      expect(read.text).not.toContain(secret);
      const listed = await call('GET', '/clients?type=service&limit=200', { token: full });
      expect((listed.body as { items: Array<{ client_id: string }> }).items.map((c) => c.client_id)).toContain(client.client_id);
      expect((await call('POST', `/clients/${client.client_id}/disable`, { token: full })).status).toBe(200);
      expect(await tokenWith(client.client_id, secret)).toBe(401);
      expect((await call('POST', `/clients/${client.client_id}/enable`, { token: full })).status).toBe(200);
      expect((await call('DELETE', `/clients/${client.client_id}`, { token: full })).status).toBe(204);
      expect((await call('GET', `/clients/${client.client_id}`, { token: full })).status).toBe(404);
    });

    it('both secrets work during the overlap, only the new one after it; each step is audited', async () => {
      const { client, client_secret: oldSecret } = (await call('POST', '/clients', { token: full, body: { type: 'service', name: 'Rotating job' } })).body as {
        client: { client_id: string };
        client_secret: string;
      };
      const id = client.client_id;
      const rotated = await call('POST', `/clients/${id}/secrets`, { token: full, body: { previous_expires_in: 2 } });
      expect(rotated.status).toBe(201);
      const { client_secret: newSecret, previous_expires_at: until } = rotated.body as { client_secret: string; previous_expires_at: string };
      expect(newSecret).not.toBe(oldSecret);
      expect(new Date(until).getTime() - Date.now()).toBeLessThanOrEqual(2000);

      expect(await tokenWith(id, newSecret)).toBe(200);
      expect(await tokenWith(id, oldSecret)).toBe(200);
      expect(await tokenWith(id, 'not-the-secret')).toBe(401);
      const during = (await call('GET', `/clients/${id}/secrets`, { token: full })).body as { items: Array<{ state: string; last_used_at: string | null }> };
      expect(during.items.map((s) => s.state)).toEqual(['current', 'previous']);
      expect(during.items[1]!.last_used_at).not.toBeNull();
      expect(JSON.stringify(during)).not.toContain(oldSecret);

      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect(await tokenWith(id, oldSecret)).toBe(401);
      expect(await tokenWith(id, newSecret)).toBe(200);
      const after = (await call('GET', `/clients/${id}/secrets`, { token: full })).body as { items: Array<{ state: string }> };
      expect(after.items.map((s) => s.state)).toEqual(['current']);

      await gh.app.audit.flush();
      const events = (await call('GET', `/audit/events?actor=${id}&limit=50`, { token: full })).body as { items: Array<{ type: string; actor: string }> };
      const types = events.items.map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['client.created', 'client.secret_rotated', 'client.previous_secret_used', 'client.secret_expired']));
      expect(events.items.find((e) => e.type === 'client.secret_rotated')!.actor).toMatch(/^admin:/);
    });

    it('ends an overlap early on request', async () => {
      const { client, client_secret: oldSecret } = (await call('POST', '/clients', { token: full, body: { type: 'service', name: 'Early end' } })).body as {
        client: { client_id: string };
        client_secret: string;
      };
      await call('POST', `/clients/${client.client_id}/secrets`, { token: full, body: {} });
      const previous = ((await call('GET', `/clients/${client.client_id}/secrets`, { token: full })).body as { items: Array<{ id: string; state: string; expires_at: string }> }).items[1]!;
      expect(new Date(previous.expires_at).getTime() - Date.now()).toBeGreaterThan(23.9 * 3600 * 1000);
      expect(await tokenWith(client.client_id, oldSecret)).toBe(200);
      expect((await call('DELETE', `/clients/${client.client_id}/secrets/${previous.id}`, { token: full })).status).toBe(204);
      expect(await tokenWith(client.client_id, oldSecret)).toBe(401);
      expect((await call('DELETE', `/clients/${client.client_id}/secrets/${previous.id}`, { token: full })).status).toBe(404);
    });
  });

  describe('sender constraints and the FAPI 2.0 profile (issue 17)', () => {
    const clientCredentials = (clientId: string, secret: string, dpop?: string) =>
      fetch(`${gh.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret), ...(dpop ? { dpop } : {}) },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

    it('creates a client that must use DPoP, and PATCH turns the requirement off and on again (If-Match)', async () => {
      const created = await call('POST', '/clients', { token: full, body: { type: 'service', name: 'Bound job', dpop_bound_access_tokens: true } });
      expect(created.status).toBe(201);
      const { client, client_secret: secret } = created.body as { client: { client_id: string; dpop_bound_access_tokens: boolean; security_profile: null }; client_secret: string };
      expect(client.dpop_bound_access_tokens).toBe(true);
      expect(client.security_profile).toBeNull();
      const id = client.client_id;
      const key = await proofKey();
      const tokenUrl = `${gh.issuer}/token`;
      expect((await clientCredentials(id, secret)).body.error).toBe('invalid_grant');
      const nonce = await fetchNonce(tokenUrl, basic(id, secret), key);
      const bound = await clientCredentials(id, secret, await proof(key, { htm: 'POST', htu: tokenUrl, nonce }));
      expect(bound.status).toBe(200);
      expect(bound.body.token_type).toBe('DPoP');

      const read = await call('GET', `/clients/${id}`, { token: full });
      const etag = read.headers.get('etag')!;
      expect((await call('PATCH', `/clients/${id}`, { token: full, body: { dpop_bound_access_tokens: false } })).status).toBe(428);
      const off = await call('PATCH', `/clients/${id}`, { token: full, body: { dpop_bound_access_tokens: false }, headers: { 'if-match': etag } });
      expect(off.status).toBe(200);
      expect((off.body as { dpop_bound_access_tokens: boolean }).dpop_bound_access_tokens).toBe(false);
      const stale = await call('PATCH', `/clients/${id}`, { token: full, body: { dpop_bound_access_tokens: true }, headers: { 'if-match': etag } });
      expect(stale.status).toBe(412);
      // Every node's client cache was invalidated: the next request is a plain bearer one.
      const unbound = await clientCredentials(id, secret);
      expect(unbound.status).toBe(200);
      expect(unbound.body.token_type).toBe('Bearer');
      const on = await call('PATCH', `/clients/${id}`, { token: full, body: { dpop_bound_access_tokens: true }, headers: { 'if-match': off.headers.get('etag')! } });
      expect((on.body as { dpop_bound_access_tokens: boolean }).dpop_bound_access_tokens).toBe(true);
      expect((await clientCredentials(id, secret)).body.error).toBe('invalid_grant');

      await gh.app.audit.flush();
      const events = (await call('GET', `/audit/events?type=client.sender_constraint_changed&limit=50`, { token: full })).body as { items: Array<{ subject: string; actor: string }> };
      expect(events.items.filter((e) => e.subject === id)).toHaveLength(2);
    });

    it('refuses DPoP on a certificate-bound client, unknown fields, and a FAPI 2.0 client with a shared secret', async () => {
      const mtls = await call('POST', '/clients', {
        token: full,
        body: { type: 'service', name: 'Bound by certificate', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=job', tls_client_certificate_bound_access_tokens: true },
      });
      expect(mtls.status).toBe(201);
      const mtlsId = (mtls.body as { client: { client_id: string } }).client.client_id;
      const etag = (await call('GET', `/clients/${mtlsId}`, { token: full })).headers.get('etag')!;
      const both = await call('PATCH', `/clients/${mtlsId}`, { token: full, body: { dpop_bound_access_tokens: true }, headers: { 'if-match': etag } });
      expect(both.status).toBe(409);
      expect((both.body as { detail: string }).detail).toMatch(/not both/);
      const unknown = await call('PATCH', `/clients/${mtlsId}`, { token: full, body: { token_endpoint_auth_method: 'none' }, headers: { 'if-match': etag } });
      expect(unknown.status).toBe(400);
      const shared = await call('POST', '/clients', { token: full, body: { type: 'confidential', name: 'Not FAPI', redirect_uris: ['https://rp.example/cb'], security_profile: 'fapi2' } });
      expect(shared.status).toBe(400);
      const fapi = await call('POST', '/clients', {
        token: full,
        body: { type: 'confidential', name: 'FAPI', redirect_uris: ['https://rp.example/cb'], security_profile: 'fapi2', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'CN=fapi' },
      });
      expect(fapi.status).toBe(201);
      expect((fapi.body as { client: { security_profile: string } }).client.security_profile).toBe('fapi2');
    });
  });

  describe('keys, resource servers and audit', () => {
    it('lists, rotates and retires signing keys', async () => {
      const listed = await call('GET', '/keys', { token: full });
      expect(listed.status).toBe(200);
      expect(listed.text).not.toMatch(/"d"|private/);
      const rotated = await call('POST', '/keys/rotate', { token: full, body: { alg: 'RS256' } });
      expect(rotated.status).toBe(201);
      const kid = (rotated.body as { kid: string }).kid;
      expect(((await call('GET', '/keys', { token: full })).body as { items: Array<{ kid: string; state: string }> }).items.find((k) => k.kid === kid)!.state).toBe('next');
      expect((await call('POST', `/keys/${kid}/retire`, { token: full })).status).toBe(200);
      expect((await call('POST', '/keys/no-such-kid/revoke', { token: full })).status).toBe(404);
    });

    it('registers, reads and removes a resource server; the admin audience is reserved', async () => {
      const body = { audience: 'https://reports.example.test', name: 'Reports', scopes: ['reports:read'], access_token_ttl: 300 };
      expect((await call('POST', '/resource-servers', { token: full, body })).status).toBe(201);
      expect((await call('POST', '/resource-servers', { token: full, body })).status).toBe(409);
      expect((await call('GET', `/resource-servers/${encodeURIComponent(body.audience)}`, { token: full })).status).toBe(200);
      expect((await call('GET', '/resource-servers', { token: full })).status).toBe(200);
      // RFC 9728: the document the API publishes, and where (§3.1).
      const metadata = await call('GET', `/resource-servers/${encodeURIComponent(body.audience)}/metadata`, { token: full });
      expect(metadata.status).toBe(200);
      expect(metadata.body).toEqual({
        resource: body.audience,
        authorization_servers: [gh.issuer],
        scopes_supported: ['reports:read'],
        bearer_methods_supported: ['header'],
        resource_name: 'Reports',
        dpop_signing_alg_values_supported: ['ES256', 'PS256', 'EdDSA'],
        dpop_bound_access_tokens_required: false,
      });
      expect(metadata.headers.get('link')).toBe('<https://reports.example.test/.well-known/oauth-protected-resource>; rel="describedby"');
      expect((await call('GET', `/resource-servers/${encodeURIComponent('https://none.example.test')}/metadata`, { token: full })).status).toBe(404);
      expect((await call('POST', '/resource-servers', { token: full, body: { ...body, audience: 'urn:gatehouse:admin' } })).status).toBe(409);
      expect((await call('DELETE', `/resource-servers/${encodeURIComponent(body.audience)}`, { token: full })).status).toBe(204);
    });

    it('searches the audit trail with a cursor and verifies the chain; reads are audited as admin.call', async () => {
      await gh.app.audit.flush();
      const first = await call('GET', '/audit/events?limit=3', { token: full });
      const page1 = first.body as { items: Array<{ seq: number }>; next_cursor: string };
      expect(page1.items).toHaveLength(3);
      expect(page1.items[0]!.seq).toBeGreaterThan(page1.items[2]!.seq);
      const page2 = (await call('GET', `/audit/events?limit=3&cursor=${page1.next_cursor}`, { token: full })).body as { items: Array<{ seq: number }> };
      expect(page2.items[0]!.seq).toBeLessThan(page1.items[2]!.seq);
      expect((await call('GET', '/audit/events?cursor=!!', { token: full })).status).toBe(400);
      const calls = (await call('GET', '/audit/events?type=admin.call&limit=5', { token: full })).body as { items: Array<{ actor: string; request_id: string | null }> };
      expect(calls.items.length).toBeGreaterThan(0);
      expect(calls.items[0]!.actor).toMatch(/^admin:/);
      expect(calls.items[0]!.request_id).toBeTruthy();
      // The export streams the same rows with the same filters, as JSON lines or CSV.
      const exported = await call('GET', '/audit/export?format=jsonl&type=admin.call', { token: full });
      expect(exported.headers.get('content-type')).toMatch(/^application\/jsonl/);
      expect(exported.text.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type).every((t) => t === 'admin.call')).toBe(true);
      const verified = await call('POST', '/audit/verify', { token: full });
      expect(verified.body).toMatchObject({ ok: true, problems: [] });
    });
  });

  describe('upstreams and links', () => {
    it('creates from a preset or an issuer, keeps the secret write-only, updates with If-Match, lists, deletes; lists and removes a user\'s links', async () => {
      const secret = 'upstream-secret-Vh3yDm0KZr2y1bqSgA2b7PGD';
      const created = await call('POST', '/upstreams', { token: full, body: { name: 'idp-admin-api', issuer: 'https://idp.example.test', client_id: 'gatehouse', client_secret: secret, linking: 'refuse', domains: ['corp.example.test'] } });
      expect(created.status, created.text).toBe(201);
      const upstream = created.body as { id: string; has_client_secret: boolean; client_auth: string; jwks_uri: string | null };
      expect(upstream).toMatchObject({ has_client_secret: true, client_auth: 'client_secret_basic', jwks_uri: null });
      expect(created.text).not.toContain(secret);
      expect(created.headers.get('location')).toBe(`/admin/v1/upstreams/${upstream.id}`);
      const entra = await call('POST', '/upstreams', { token: full, body: { name: 'entra-admin-api', preset: 'entra', tenant: '0b1c2d3e-0000-4000-8000-000000000000', client_id: 'app', client_auth: 'private_key_jwt' } });
      expect(entra.status, entra.text).toBe(201);
      expect(entra.body).toMatchObject({ issuer: 'https://login.microsoftonline.com/0b1c2d3e-0000-4000-8000-000000000000/v2.0', client_auth: 'private_key_jwt', has_client_secret: false, jwks_uri: `${gh.issuer}/federation/jwks`, claims: { subject: 'oid', email_verified: 'xms_edov' } });
      const jwks = (await (await fetch(`${gh.issuer}/federation/jwks`)).json()) as { keys: Array<Record<string, unknown>> };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).not.toHaveProperty('d');

      // Refusals: a duplicate name, a secret-needing method without one, unknown and read-only fields, a multi-tenant Entra.
      expect((await call('POST', '/upstreams', { token: full, body: { name: 'idp-admin-api', issuer: 'https://idp.example.test', client_id: 'x', client_secret: 's' } })).status).toBe(409);
      const noSecret = await call('POST', '/upstreams', { token: full, body: { name: 'no-secret', issuer: 'https://idp.example.test', client_id: 'x', client_auth: 'client_secret_post' } });
      expect(noSecret.status).toBe(400);
      expect((noSecret.body as { detail: string }).detail).toMatch(/needs a client secret/);
      expect((await call('POST', '/upstreams', { token: full, body: { name: 'http-idp', issuer: 'http://idp.example.test', client_id: 'x' } })).status).toBe(400);
      expect((await call('POST', '/upstreams', { token: full, body: { name: 'entra-common', preset: 'entra', client_id: 'x' } })).status).toBe(400);
      const unknownField = await call('POST', '/upstreams', { token: full, body: { name: 'u', issuer: 'https://idp.example.test', client_id: 'x', client_secret_ciphertext: 'v1.x' } });
      expect(unknownField.status).toBe(400);

      const read = await call('GET', `/upstreams/${upstream.id}`, { token: full });
      expect(read.status).toBe(200);
      expect((await call('GET', '/upstreams/idp-admin-api', { token: full })).body).toEqual(read.body);
      const etag = read.headers.get('etag')!;
      expect((await call('PATCH', `/upstreams/${upstream.id}`, { token: full, body: { enabled: false } })).status).toBe(428);
      expect((await call('PATCH', `/upstreams/${upstream.id}`, { token: full, body: { enabled: false }, headers: { 'if-match': '"stale"' } })).status).toBe(412);
      expect((await call('PATCH', `/upstreams/${upstream.id}`, { token: full, body: { issuer: 'https://other.example.test' }, headers: { 'if-match': etag } })).status).toBe(400);
      const patched = await call('PATCH', `/upstreams/${upstream.id}`, { token: full, body: { enabled: false, client_secret: 'rotated-secret-value', claims: { groups: 'groups' } }, headers: { 'if-match': etag } });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.body).toMatchObject({ enabled: false, has_client_secret: true, claims: { groups: 'groups', subject: 'sub' } });
      expect(patched.text).not.toContain('rotated-secret-value');
      expect((await call('PATCH', `/upstreams/${upstream.id}`, { token: full, body: { enabled: true }, headers: { 'if-match': etag } })).status).toBe(412);
      const listed = (await call('GET', '/upstreams?limit=1', { token: full })).body as { items: Array<{ name: string }>; next_cursor: string };
      expect(listed.items.map((u) => u.name)).toEqual(['entra-admin-api']);
      expect(((await call('GET', `/upstreams?cursor=${listed.next_cursor}`, { token: full })).body as { items: Array<{ name: string }> }).items.map((u) => u.name)).toEqual(['idp-admin-api']);

      const user = await gh.createUser();
      await gh.app.db.query('INSERT INTO federation_links (issuer, subject, account_id, upstream_id) VALUES ($1, $2, $3, $4)', ['https://idp.example.test', 'sub/with slash', user.id, upstream.id]);
      const links = await call('GET', `/users/${user.id}/links`, { token: full });
      expect(links.body).toMatchObject({ items: [{ issuer: 'https://idp.example.test', subject: 'sub/with slash', upstream: 'idp-admin-api', groups: [] }] });
      expect((await call('GET', '/users/no-such-user/links', { token: full })).status).toBe(404);
      const linkPath = `/users/${user.id}/links/${encodeURIComponent('https://idp.example.test')}/${encodeURIComponent('sub/with slash')}`;
      const other = await gh.createUser();
      // Another user's link is not found through this user.
      expect((await call('DELETE', `/users/${other.id}/links/${encodeURIComponent('https://idp.example.test')}/${encodeURIComponent('sub/with slash')}`, { token: full })).status).toBe(404);
      expect((await call('DELETE', linkPath, { token: full })).status).toBe(204);
      expect((await call('DELETE', linkPath, { token: full })).status).toBe(404);
      expect((await call('GET', `/users/${user.id}/links`, { token: full })).body).toEqual({ items: [] });

      expect((await call('DELETE', `/upstreams/${upstream.id}`, { token: full })).status).toBe(204);
      expect((await call('DELETE', `/upstreams/${upstream.id}`, { token: full })).status).toBe(404);
      expect((await call('GET', `/upstreams/${upstream.id}`, { token: full })).status).toBe(404);
      await gh.app.audit.flush();
      const { rows } = await gh.app.db.query<{ type: string; actor: string }>("SELECT type, actor FROM audit_events WHERE type IN ('upstream.created', 'upstream.updated', 'upstream.removed', 'federation.unlinked') ORDER BY seq");
      expect(new Set(rows.map((r) => r.type))).toEqual(new Set(['upstream.created', 'upstream.updated', 'upstream.removed', 'federation.unlinked']));
      expect(rows.every((r) => r.actor.startsWith('admin:'))).toBe(true);
    });
  });

  describe('authorisation matrix', () => {
    const sample = (path: string) => path.replace(/\{[^}]+\}/g, 'x');

    it('every operation: its scope passes the token checks; other tokens are refused with the right status and challenge', async () => {
      const operations = adminOperations(gh.app.services, { search: async () => [], verify: async () => ({ ok: true, rows: 0, head: { seq: 0, hash: '' }, problems: [] }) }, gh.issuer);
      const scopeTokens = new Map<AdminScope, string>();
      for (const scope of adminScopes) scopeTokens.set(scope, await (await adminServiceClient(gh, [scope])).token());
      const admin = await gh.createUser();
      await gh.app.services.accounts.setAdmin(operator, admin.id, true);
      const plain = await gh.createUser();
      const now = Math.floor(Date.now() / 1000);
      const firstParty = (await gh.createClient({ type: 'public', name: 'Console', redirectUris: ['http://127.0.0.1/cb'], firstParty: true })).clientId;
      const userToken = (sub: string, acr: string, authTime: number) => mintToken(gh, { sub, client_id: firstParty, scope: adminScopes.join(' '), acr, auth_time: authTime });
      const expired = await mintToken(gh, { sub: 'svc', client_id: 'svc', scope: adminScopes.join(' ') }, { expiresIn: -60 });
      const otherAudience = await mintToken(gh, { sub: 'svc', client_id: 'svc', scope: adminScopes.join(' ') }, { audience: 'https://api.example.test' });
      const registrationAccessToken = 'Vh3yDm0KZr2y1bqSgA2b7PGDnBQ1rJ2d7KAtHbd9c4M';
      const recentMfa = await userToken(admin.id, mfa, now);
      const oldMfa = await userToken(admin.id, mfa, now - 3600);
      const noMfa = await userToken(admin.id, 'urn:gatehouse:acr:pwd', now);
      const noPermission = await userToken(plain.id, mfa, now);

      for (const op of operations) {
        const path = sample(op.path);
        const label = `${op.method} ${op.path}`;
        // The right scope gets past authentication and authorisation (then 2xx, or 4xx about the input).
        const allowed = await call(op.method, path, { token: scopeTokens.get(op.scope)!, ...(op.body ? { body: {} } : {}) });
        expect([401, 403], label).not.toContain(allowed.status);
        for (const scope of adminScopes.filter((s) => s !== op.scope)) {
          const refused = await call(op.method, path, { token: scopeTokens.get(scope)!, ...(op.body ? { body: {} } : {}) });
          expect(refused.status, `${label} with ${scope}`).toBe(403);
          expect(refused.headers.get('www-authenticate'), label).toBe(`Bearer realm="gatehouse-admin", error="insufficient_scope", error_description="the access token lacks the scope this operation needs", scope="${op.scope}"`);
        }
        const none = await call(op.method, path);
        expect(none.status, label).toBe(401);
        expect(none.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse-admin"');
        for (const [name, token] of Object.entries({ expired, otherAudience, registrationAccessToken })) {
          const refused = await call(op.method, path, { token });
          expect(refused.status, `${label} ${name}`).toBe(401);
          expect(refused.headers.get('www-authenticate'), `${label} ${name}`).toMatch(/^Bearer realm="gatehouse-admin", error="invalid_token"/);
        }
        const denied = await call(op.method, path, { token: noPermission, ...(op.body ? { body: {} } : {}) });
        expect(denied.status, `${label} user without permission`).toBe(403);
        const withMfa = await call(op.method, path, { token: recentMfa, ...(op.body ? { body: {} } : {}) });
        expect([401, 403], `${label} admin user with recent MFA`).not.toContain(withMfa.status);
        for (const [name, token] of Object.entries({ oldMfa, noMfa })) {
          const answer = await call(op.method, path, { token, ...(op.body ? { body: {} } : {}) });
          if (op.method === 'GET') {
            expect([401, 403], `${label} read ${name}`).not.toContain(answer.status);
          } else {
            expect(answer.status, `${label} write ${name}`).toBe(401);
            expect(answer.headers.get('www-authenticate')).toBe(
              `Bearer realm="gatehouse-admin", error="insufficient_user_authentication", error_description="a second factor and a recent sign-in are required", acr_values="${mfa}", max_age=300`,
            );
          }
        }
      }
    }, 120_000);

    it('an admin token cannot be had by a client the operator gave no admin scope', async () => {
      const { clientId, clientSecret } = await gh.createClient({ type: 'service', name: 'Ordinary' });
      const answer = await fetch(`${gh.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'urn:gatehouse:admin', scope: 'admin:users.write' }),
      });
      expect(answer.status).toBe(400);
      expect(((await answer.json()) as { error: string }).error).toBe('invalid_target');
      // A client given one admin scope gets only that one, whatever it asks for.
      const reader = await adminServiceClient(gh, ['admin:users.read']);
      await expect(reader.token(['admin:users.read', 'admin:users.write'])).rejects.toMatchObject({ error: 'invalid_scope' });
    });

    it('a tampered token is refused', async () => {
      const [h, p, s] = full.split('.');
      const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'someone' })).toString('base64url');
      const answer = await call('GET', '/users', { token: `${h}.${forged}.${s}` });
      expect(answer.status).toBe(401);
    });
  });

  describe('OWASP API Security Top 10', () => {
    it('security headers and no-store on every admin answer', async () => {
      const unmatched = await adminCaller(gh, undefined)('GET', '/nowhere', { token: full });
      expect(unmatched.status).toBe(404);
      for (const answer of [await call('GET', '/users', { token: full }), await call('GET', '/users'), unmatched]) {
        expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
        expect(answer.headers.get('content-security-policy')).toContain("default-src 'none'");
        expect(answer.headers.get('cache-control')).toBe('no-store');
      }
    });

    it('errors are problem details with the request id, never internals', async () => {
      const answer = await call('GET', '/users/%E0%A4%A', { token: full });
      expect(answer.status).toBe(400);
      const body = answer.body as { type: string; title: string; status: number; instance: string };
      expect(body.status).toBe(400);
      expect(body.instance).toMatch(/^urn:gatehouse:request:.+/);
      const wrongMethod = await adminCaller(gh, undefined)('PUT', '/users', { token: full });
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toBe('GET, POST');
      expect(wrongMethod.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    });

    it('no response this suite saw carries a secret, hash or ciphertext beyond the values shown once', () => {
      const shownOnce = new Set(['client_secret', 'recovery_codes', 'hash']);
      expect(answers.length).toBeGreaterThan(50);
      for (const answer of answers) expect(secretLookingValues(answer.body, shownOnce), answer.text.slice(0, 200)).toEqual([]);
      // The one place a secret appears is where it is shown once, and the scanner would see it anywhere else.
      expect(secretLookingValues({ nested: { client_secret: 'x' } }, new Set())).toHaveLength(1);
      expect(secretLookingValues({ note: 'v1.k1.aaaa.bbbb' }, new Set())).toHaveLength(1);
    });

    it('every documented operation was exercised by this suite', () => {
      const all = adminOperations(gh.app.services, { search: async () => [], verify: async () => ({ ok: true, rows: 0, head: { seq: 0, hash: '' }, problems: [] }) }, gh.issuer).map((o) => o.id);
      expect([...contract.seen].sort()).toEqual(expect.arrayContaining(all.sort()));
    });
  });
});

describe('admin API rate limit and binding', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=5/1m,client=off', GATEHOUSE_ADMIN_REQUIRE_BOUND_TOKENS: 'true' } });
  });
  afterAll(() => gh?.close());

  it('refuses an unbound token where binding is required, and answers 429 problem details over the budget', async () => {
    const token = await (await adminServiceClient(gh, ['admin:users.read'])).token();
    const call = adminCaller(gh, undefined);
    const unbound = await call('GET', '/users', { token });
    expect(unbound.status).toBe(401);
    expect(unbound.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse-admin", error="invalid_token", error_description="this API accepts only sender-constrained (certificate- or DPoP-bound) access tokens"');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await call('GET', '/users', { token })).status);
    expect(statuses).toContain(429);
    const limited = await call('GET', '/users', { token });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});
