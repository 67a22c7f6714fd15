/**
 * PATCH with ETag / If-Match on clients and resource servers (issue 14 §4):
 * strict bodies (no mass assignment), 428 without If-Match, 412 for a stale
 * tag, and an atomic compare-and-set so two racing writers holding the same
 * tag cannot both win. Every answer is checked against the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminCaller, adminServiceClient, createContract } from './helpers.js';

describe('admin API updates with If-Match', () => {
  let gh: TestGatehouse;
  let call: ReturnType<typeof adminCaller>;
  let token: string;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off' } });
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Record<string, unknown>;
    call = adminCaller(gh, createContract(document));
    token = await (await adminServiceClient(gh, ['admin:clients.read', 'admin:clients.write', 'admin:resources.read', 'admin:resources.write', 'admin:audit.read'])).token();
  });
  afterAll(() => gh?.close());

  describe('PATCH /clients/{clientId}', () => {
    it('changes the metadata, moves the ETag on, and the change reaches the protocol', async () => {
      const { clientId } = await gh.createClient({ type: 'confidential', name: 'Before', redirectUris: ['https://app.example.test/cb'] });
      const read = await call('GET', `/clients/${clientId}`, { token });
      const etag = read.headers.get('etag')!;
      expect(etag).toMatch(/^"\d+\.[0-9a-z]+"$/);
      const updated = await call('PATCH', `/clients/${clientId}`, {
        token,
        headers: { 'if-match': etag },
        body: { name: 'After', redirect_uris: ['https://app.example.test/cb2'], first_party: true, scope: 'openid profile' },
      });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ name: 'After', redirect_uris: ['https://app.example.test/cb2'], first_party: true, type: 'confidential' });
      const next = updated.headers.get('etag')!;
      expect(next).not.toBe(etag);
      expect((await call('GET', `/clients/${clientId}`, { token })).headers.get('etag')).toBe(next);
      const metadata = (await gh.app.services.clients.metadataForProvider(clientId))!;
      expect(metadata).toMatchObject({ client_name: 'After', redirect_uris: ['https://app.example.test/cb2'], scope: 'openid profile' });
      // Clearing the scope list with null.
      const cleared = await call('PATCH', `/clients/${clientId}`, { token, headers: { 'if-match': next }, body: { scope: null } });
      expect(cleared.status).toBe(200);
      expect((await gh.app.services.clients.metadataForProvider(clientId))!.scope).toBeUndefined();
      await gh.app.audit.flush();
      const events = (await call('GET', `/audit/events?type=client.updated&actor=${clientId}`, { token })).body as { items: Array<{ subject: string; actor: string; detail: { fields: string[] } }> };
      expect(events.items.map((e) => e.detail.fields)).toEqual([['scope'], ['firstParty', 'name', 'redirectUris', 'scope']]);
      expect(events.items[0]!.actor).toMatch(/^admin:/);
    });

    it('428 without If-Match, 412 with a stale tag (nothing changes), * matches any', async () => {
      const { clientId } = await gh.createClient({ type: 'service', name: 'Job' });
      const first = (await call('GET', `/clients/${clientId}`, { token })).headers.get('etag')!;
      const missing = await call('PATCH', `/clients/${clientId}`, { token, body: { name: 'No tag' } });
      expect(missing.status).toBe(428);
      expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      // Disabling changes the representation, so the tag read before is stale.
      await call('POST', `/clients/${clientId}/disable`, { token });
      const stale = await call('PATCH', `/clients/${clientId}`, { token, headers: { 'if-match': first }, body: { name: 'Stale' } });
      expect(stale.status).toBe(412);
      expect((stale.body as { type: string }).type).toBe('urn:gatehouse:problem:stale-write');
      expect((await gh.app.services.clients.find(clientId))!.name).toBe('Job');
      expect((await call('PATCH', `/clients/${clientId}`, { token, headers: { 'if-match': 'W/"1.x", "nope"' }, body: { name: 'Weak' } })).status).toBe(412);
      const any = await call('PATCH', `/clients/${clientId}`, { token, headers: { 'if-match': '*' }, body: { name: 'Any' } });
      expect(any.status).toBe(200);
      expect((await call('PATCH', '/clients/no-such-client', { token, headers: { 'if-match': '*' }, body: { name: 'x' } })).status).toBe(404);
    });

    it('refuses read-only and unknown fields by name, and metadata that breaks the type’s rules', async () => {
      const { clientId } = await gh.createClient({ type: 'service', name: 'Strict' });
      const etag = (await call('GET', `/clients/${clientId}`, { token })).headers.get('etag')!;
      const mass = await call('PATCH', `/clients/${clientId}`, {
        token,
        headers: { 'if-match': etag },
        body: { type: 'public', token_endpoint_auth_method: 'none', client_secret: 'mine', disabled: false, client_id: 'other' },
      });
      expect(mass.status).toBe(400);
      expect((mass.body as { fields: string[] }).fields.sort()).toEqual(['body.client_id', 'body.client_secret', 'body.disabled', 'body.token_endpoint_auth_method', 'body.type']);
      const uris = await call('PATCH', `/clients/${clientId}`, { token, headers: { 'if-match': etag }, body: { redirect_uris: ['https://evil.example.test/cb'] } });
      expect(uris.status).toBe(409);
      const bad = await call('PATCH', `/clients/${clientId}`, { token, headers: { 'if-match': etag }, body: { scope: 'a  b' } });
      expect(bad.status).toBe(400);
      const { clientId: web } = await gh.createClient({ type: 'confidential', name: 'Web', redirectUris: ['https://app.example.test/cb'] });
      const webTag = (await call('GET', `/clients/${web}`, { token })).headers.get('etag')!;
      expect((await call('PATCH', `/clients/${web}`, { token, headers: { 'if-match': webTag }, body: { redirect_uris: [] } })).status).toBe(409);
      expect((await call('PATCH', `/clients/${web}`, { token, headers: { 'if-match': webTag }, body: { redirect_uris: ['http://example.test/cb'] } })).status).toBe(409);
      expect((await gh.app.services.clients.find(web))!.redirectUris).toEqual(['https://app.example.test/cb']);
      expect((await gh.app.services.clients.find(clientId))!.type).toBe('service');
    });

    it('two writers racing with the same version: exactly one wins (compare-and-set in the UPDATE)', async () => {
      const { clientId } = await gh.createClient({ type: 'service', name: 'Race' });
      const { clients } = gh.app.services;
      for (let round = 0; round < 5; round += 1) {
        const version = (await clients.find(clientId))!.version;
        const results = await Promise.all(['A', 'B', 'C'].map((n) => clients.update(operator, clientId, { name: `${n}${round}` }, version)));
        expect(results.filter((r) => r !== 'stale'), `round ${round}`).toHaveLength(1);
        const winner = results.find((r) => r !== 'stale') as { name: string; version: number };
        expect((await clients.find(clientId))!.name).toBe(winner.name);
        expect(winner.version).toBe(version + 1);
      }
      const etag = (await call('GET', `/clients/${clientId}`, { token })).headers.get('etag')!;
      const answers = await Promise.all(['X', 'Y'].map((name) => call('PATCH', `/clients/${clientId}`, { token, headers: { 'if-match': etag }, body: { name } })));
      expect(answers.map((a) => a.status).sort()).toEqual([200, 412]);
    });
  });

  describe('PATCH /resource-servers/{audience}', () => {
    const audience = 'https://billing.example.test';
    const path = `/resource-servers/${encodeURIComponent(audience)}`;

    it('changes the settings it is given and keeps the others; stale and missing tags are refused', async () => {
      const created = await call('POST', '/resource-servers', { token, body: { audience, name: 'Billing', scopes: ['invoices:read'], access_token_ttl: 300 } });
      expect(created.status).toBe(201);
      const etag = created.headers.get('etag')!;
      expect((await call('GET', path, { token })).headers.get('etag')).toBe(etag);
      expect((await call('PATCH', path, { token, body: { name: 'x' } })).status).toBe(428);
      const updated = await call('PATCH', path, { token, headers: { 'if-match': etag }, body: { name: 'Billing API', access_token_ttl: 600 } });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ audience, name: 'Billing API', scopes: ['invoices:read'], access_token_ttl: 600, token_format: 'jwt', signing_alg: 'ES256' });
      expect((await gh.app.services.resources.find(audience))!.accessTokenTtl).toBe(600);
      const stale = await call('PATCH', path, { token, headers: { 'if-match': etag }, body: { scopes: [] } });
      expect(stale.status).toBe(412);
      expect((await gh.app.services.resources.find(audience))!.scopes).toEqual(['invoices:read']);
      const fresh = updated.headers.get('etag')!;
      const mass = await call('PATCH', path, { token, headers: { 'if-match': fresh }, body: { audience: 'https://other.example.test', created_at: 'x' } });
      expect(mass.status).toBe(400);
      expect((mass.body as { fields: string[] }).fields.sort()).toEqual(['body.audience', 'body.created_at']);
      expect((await call('PATCH', path, { token, headers: { 'if-match': fresh }, body: { access_token_ttl: 5 } })).status).toBe(400);
      expect((await call('PATCH', `/resource-servers/${encodeURIComponent('https://none.example.test')}`, { token, headers: { 'if-match': '*' }, body: { name: 'x' } })).status).toBe(404);
    });

    it('a resource server removed and added again does not answer to its old tags', async () => {
      const other = 'https://again.example.test';
      const p = `/resource-servers/${encodeURIComponent(other)}`;
      const old = (await call('POST', '/resource-servers', { token, body: { audience: other, name: 'Again', access_token_ttl: 300 } })).headers.get('etag')!;
      await call('DELETE', p, { token });
      await new Promise((resolve) => setTimeout(resolve, 5));
      await call('POST', '/resource-servers', { token, body: { audience: other, name: 'Again', access_token_ttl: 300 } });
      expect((await call('PATCH', p, { token, headers: { 'if-match': old }, body: { name: 'Stale' } })).status).toBe(412);
    });

    it('racing writers on one resource server: exactly one wins', async () => {
      const { resources } = gh.app.services;
      await resources.add(operator, { audience: 'https://race.example.test', name: 'Race', accessTokenTtl: 300 });
      for (let round = 0; round < 5; round += 1) {
        const version = (await resources.find('https://race.example.test'))!.version;
        const results = await Promise.all([60, 120, 180].map((ttl) => resources.update(operator, 'https://race.example.test', { accessTokenTtl: ttl + round }, version)));
        expect(results.filter((r) => r !== 'stale'), `round ${round}`).toHaveLength(1);
      }
    });
  });
});
