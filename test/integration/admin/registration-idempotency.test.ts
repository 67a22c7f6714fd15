/**
 * The admin API's registration resources (policies, initial access tokens)
 * and Idempotency-Key on creates (draft-ietf-httpapi-idempotency-key-header),
 * against a real Gatehouse: every answer is checked against the served
 * OpenAPI document; an initial access token minted over the API registers a
 * client at the real /reg and stops doing so once revoked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { adminScopes } from '../../../src/resources/admin-audience.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { register, webClient } from '../registration/helpers.js';
import { adminCaller, adminServiceClient, createContract, secretLookingValues, type AdminAnswer } from './helpers.js';

type Json = Record<string, unknown>;

describe('admin API: registration policies, initial access tokens, Idempotency-Key', () => {
  let gh: TestGatehouse;
  let call: ReturnType<typeof adminCaller>;
  let full: string;
  let other: string;
  const answers: AdminAnswer[] = [];
  const key = (n: string) => ({ 'idempotency-key': `"${n}"` });

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_ADMIN: 'ip=1000000/1m,client=off', GATEHOUSE_RATE_LIMIT_REGISTRATION: 'ip=off,client=off' } });
    const document = (await (await fetch(`${gh.issuer}/admin/v1/openapi.json`)).json()) as Json;
    const checked = adminCaller(gh, createContract(document));
    call = async (method, path, options) => {
      const answer = await checked(method, path, options);
      answers.push(answer);
      return answer;
    };
    full = await (await adminServiceClient(gh, adminScopes)).token();
    other = await (await adminServiceClient(gh, adminScopes)).token();
  });
  afterAll(() => gh?.close());

  describe('registration policies', () => {
    it('creates with defaults filled in, reads with an ETag, replaces with If-Match, lists by name and removes; each change audited', async () => {
      const created = await call('POST', '/registration-policies', {
        token: full,
        body: { name: 'partners', description: 'Partner apps', rules: { redirect_hosts: ['*.partner.example'], max_clients_per_token: 2 } },
      });
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe('/admin/v1/registration-policies/partners');
      const policy = created.body as { name: string; rules: Json };
      expect(policy.rules).toMatchObject({ redirect_hosts: ['*.partner.example'], max_clients_per_token: 2, default_auth_method: 'client_secret_basic', native_redirects: true, secret_lifetime_seconds: null });
      expect((await gh.app.services.registrationPolicies.find('partners'))!.rules.maxClientsPerToken).toBe(2);

      const again = await call('POST', '/registration-policies', { token: full, body: { name: 'partners' } });
      expect(again.status).toBe(409);

      const read = await call('GET', '/registration-policies/partners', { token: full });
      expect(read.status).toBe(200);
      const etag = read.headers.get('etag')!;
      expect(etag).toMatch(/^"\d+\.[0-9a-z]+"$/);
      const replacement = { rules: { grant_types: ['client_credentials'], auth_methods: ['private_key_jwt'], default_auth_method: 'private_key_jwt' } };
      expect((await call('PUT', '/registration-policies/partners', { token: full, body: replacement })).status).toBe(428);
      // A replacement names the whole rule set: no rules, no replacement.
      const partial = await call('PUT', '/registration-policies/partners', { token: full, body: { description: 'only this' }, headers: { 'if-match': etag } });
      expect(partial.status).toBe(400);
      expect((partial.body as { fields: string[] }).fields).toEqual(['body.rules']);
      const replaced = await call('PUT', '/registration-policies/partners', { token: full, body: replacement, headers: { 'if-match': etag } });
      expect(replaced.status).toBe(200);
      // A whole replacement: the hosts given at creation are gone, the description stays when not named.
      expect(replaced.body).toMatchObject({ description: 'Partner apps', rules: { grant_types: ['client_credentials'], redirect_hosts: null, max_clients_per_token: null } });
      const stale = await call('PUT', '/registration-policies/partners', { token: full, body: { rules: {} }, headers: { 'if-match': etag } });
      expect(stale.status).toBe(412);
      expect((await gh.app.services.registrationPolicies.find('partners'))!.rules.grantTypes).toEqual(['client_credentials']);

      await call('POST', '/registration-policies', { token: full, body: { name: 'apps' } });
      const first = await call('GET', '/registration-policies?limit=1', { token: full });
      const page1 = first.body as { items: Array<{ name: string }>; next_cursor: string };
      expect(page1.items.map((p) => p.name)).toEqual(['apps']);
      const second = await call('GET', `/registration-policies?limit=1&cursor=${page1.next_cursor}`, { token: full });
      expect((second.body as { items: Array<{ name: string }> }).items.map((p) => p.name)).toEqual(['partners']);

      expect((await call('DELETE', '/registration-policies/apps', { token: full })).status).toBe(204);
      expect((await call('DELETE', '/registration-policies/apps', { token: full })).status).toBe(404);
      expect((await call('GET', '/registration-policies/apps', { token: full })).status).toBe(404);
      await gh.app.audit.flush();
      const events = (await call('GET', '/audit/events?type=registration_policy.&limit=50', { token: full })).body as { items: Array<{ type: string; actor: string }> };
      // Newest first.
      expect(events.items.map((e) => e.type)).toEqual(['registration_policy.removed', 'registration_policy.saved', 'registration_policy.saved', 'registration_policy.saved']);
      expect(events.items.every((e) => e.actor.startsWith('admin:'))).toBe(true);
    });

    it('refuses bad names, rules the service would refuse, and unknown fields, naming them in API terms', async () => {
      const badName = await call('POST', '/registration-policies', { token: full, body: { name: 'Not Valid' } });
      expect(badName.status).toBe(400);
      expect((badName.body as { fields: string[] }).fields).toEqual(['body.name']);
      const inconsistent = await call('POST', '/registration-policies', { token: full, body: { name: 'bad', rules: { auth_methods: ['none'], default_auth_method: 'client_secret_basic' } } });
      expect(inconsistent.status).toBe(400);
      expect((inconsistent.body as { fields: string[] }).fields).toEqual(['body.rules.default_auth_method']);
      const badHost = await call('POST', '/registration-policies', { token: full, body: { name: 'bad', rules: { redirect_hosts: ['https://not a host'] } } });
      expect(badHost.status).toBe(400);
      expect((badHost.body as { fields: string[] }).fields[0]).toMatch(/^body\.rules\.redirect_hosts/);
      const unknown = await call('POST', '/registration-policies', { token: full, body: { name: 'bad', rules: { grantTypes: ['client_credentials'] }, created_at: 'x' } });
      expect(unknown.status).toBe(400);
      expect((unknown.body as { fields: string[] }).fields.sort()).toEqual(['body.created_at', 'body.rules.grantTypes']);
      expect(await gh.app.services.registrationPolicies.find('bad')).toBeUndefined();
    });
  });

  describe('initial access tokens', () => {
    it('mints a token shown once that registers at /reg under its policy; lists metadata only; revoked, it registers no more', async () => {
      await call('POST', '/registration-policies', { token: full, body: { name: 'web', rules: { redirect_hosts: ['rp.example.test'] } } });
      const minted = await call('POST', '/initial-access-tokens', { token: full, body: { policy: 'web', description: 'for the web team', expires_in: 3600, max_uses: 2 } });
      expect(minted.status).toBe(201);
      const { token, initial_access_token: value } = minted.body as { token: { id: string; status: string; uses: number }; initial_access_token: string };
      expect(token).toMatchObject({ status: 'active', uses: 0 });
      expect(minted.headers.get('location')).toBe(`/admin/v1/initial-access-tokens/${token.id}`);
      expect(value).toMatch(/^[\w-]{43}$/);

      const registered = await register(gh, webClient, value);
      expect(registered.status).toBe(201);
      expect((await gh.app.services.clients.find((registered.body as { client_id: string }).client_id))!.registrationPolicy).toBe('web');
      const offPolicy = await register(gh, { ...webClient, redirect_uris: ['https://elsewhere.example/cb'] }, value);
      expect(offPolicy.status).toBe(400);

      const listed = await call('GET', '/initial-access-tokens', { token: full });
      expect(listed.text).not.toContain(value);
      expect((listed.body as { items: Array<{ id: string; uses: number }> }).items.find((t) => t.id === token.id)!.uses).toBe(1);
      const read = await call('GET', `/initial-access-tokens/${token.id}`, { token: full });
      expect(read.body).toMatchObject({ id: token.id, policy: 'web', description: 'for the web team', max_uses: 2, uses: 1 });
      expect(read.text).not.toContain(value);
      // A policy a token refers to stays.
      expect((await call('DELETE', '/registration-policies/web', { token: full })).status).toBe(409);

      expect((await call('DELETE', `/initial-access-tokens/${token.id}`, { token: full })).status).toBe(204);
      expect((await call('DELETE', `/initial-access-tokens/${token.id}`, { token: full })).status).toBe(409);
      expect((await call('GET', `/initial-access-tokens/${token.id}`, { token: full })).body).toMatchObject({ status: 'revoked' });
      const revoked = await call('GET', '/initial-access-tokens?status=revoked', { token: full });
      expect((revoked.body as { items: Array<{ id: string }> }).items.map((t) => t.id)).toEqual([token.id]);
      expect((await register(gh, webClient, value)).status).toBe(401);
      expect((await call('DELETE', '/initial-access-tokens/no-such-token', { token: full })).status).toBe(404);

      await gh.app.audit.flush();
      const events = await call('GET', '/audit/events?type=iat.&limit=50', { token: full });
      const mine = (events.body as { items: Array<{ type: string; subject: string; actor: string }> }).items.filter((e) => e.subject === token.id);
      expect(mine.map((e) => e.type)).toEqual(expect.arrayContaining(['iat.created', 'iat.revoked']));
      expect(mine.filter((e) => ['iat.created', 'iat.revoked'].includes(e.type)).every((e) => e.actor.startsWith('admin:'))).toBe(true);
      expect(events.text).not.toContain(value);
    });

    it('refuses an unknown policy, a lifetime out of range and read-only fields', async () => {
      const unknownPolicy = await call('POST', '/initial-access-tokens', { token: full, body: { policy: 'nowhere', expires_in: 3600 } });
      expect(unknownPolicy.status).toBe(400);
      expect((unknownPolicy.body as { fields: string[] }).fields).toEqual(['body.policy']);
      const tooShort = await call('POST', '/initial-access-tokens', { token: full, body: { expires_in: 5 } });
      expect(tooShort.status).toBe(400);
      expect((tooShort.body as { fields: string[] }).fields).toEqual(['body.expires_in']);
      const readOnly = await call('POST', '/initial-access-tokens', { token: full, body: { expires_in: 3600, uses: 0, initial_access_token: 'chosen' } });
      expect(readOnly.status).toBe(400);
      expect((readOnly.body as { fields: string[] }).fields.sort()).toEqual(['body.initial_access_token', 'body.uses']);
    });
  });

  describe('Idempotency-Key', () => {
    it('the same key and body get the first response again; nothing is created twice', async () => {
      const body = { username: 'idem-user', password: 'correct horse battery staple' };
      const first = await call('POST', '/users', { token: full, body, headers: key('user-1') });
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotency-replayed')).toBeNull();
      const retry = await call('POST', '/users', { token: full, body, headers: key('user-1') });
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotency-replayed')).toBe('true');
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('location')).toBe(first.headers.get('location'));
      // Without the key a retry is a new request: here a conflict, since the user exists.
      expect((await call('POST', '/users', { token: full, body })).status).toBe(409);
      const users = (await gh.app.services.accounts.list()).filter((u) => u.username === 'idem-user');
      expect(users).toHaveLength(1);
    });

    it('the same key with another body is 422; another caller’s same key is its own', async () => {
      const created = await call('POST', '/resource-servers', { token: full, body: { audience: 'https://api-a.example.test', name: 'A', access_token_ttl: 300 }, headers: key('rs') });
      expect(created.status).toBe(201);
      const changed = await call('POST', '/resource-servers', { token: full, body: { audience: 'https://api-b.example.test', name: 'B', access_token_ttl: 300 }, headers: key('rs') });
      expect(changed.status).toBe(422);
      expect((changed.body as { type: string }).type).toBe('urn:gatehouse:problem:idempotency-key-reused');
      expect(await gh.app.services.resources.find('https://api-b.example.test')).toBeUndefined();
      // Same key on another endpoint is another request too.
      expect((await call('POST', '/registration-policies', { token: full, body: { name: 'rs-policy' }, headers: key('rs') })).status).toBe(422);
      expect(await gh.app.services.registrationPolicies.find('rs-policy')).toBeUndefined();
      // Keys are per caller: the other client's "rs" is a fresh request, not a replay of this one's.
      const theirs = await call('POST', '/resource-servers', { token: other, body: { audience: 'https://api-b.example.test', name: 'B', access_token_ttl: 300 }, headers: key('rs') });
      expect(theirs.status).toBe(201);
      expect(theirs.headers.get('idempotency-replayed')).toBeNull();
    });

    it('a value shown once is never replayed or stored: 409 with the Location of what was made', async () => {
      const body = { type: 'confidential', name: 'Idempotent app', redirect_uris: ['https://app.example.test/cb'] };
      const first = await call('POST', '/clients', { token: full, body, headers: key('client-1') });
      expect(first.status).toBe(201);
      const secret = (first.body as { client_secret: string }).client_secret;
      expect(secret).toBeTruthy();
      const retry = await call('POST', '/clients', { token: full, body, headers: key('client-1') });
      expect(retry.status).toBe(409);
      expect((retry.body as { type: string }).type).toBe('urn:gatehouse:problem:idempotency-secret-not-replayed');
      expect(retry.headers.get('location')).toBe(first.headers.get('location'));
      expect(retry.text).not.toContain(secret);
      expect((await gh.app.services.clients.list()).filter((c) => c.name === 'Idempotent app')).toHaveLength(1);

      const iat = await call('POST', '/initial-access-tokens', { token: full, body: { expires_in: 600 }, headers: key('iat-1') });
      const value = (iat.body as { initial_access_token: string }).initial_access_token;
      const iatRetry = await call('POST', '/initial-access-tokens', { token: full, body: { expires_in: 600 }, headers: key('iat-1') });
      expect(iatRetry.status).toBe(409);
      expect(iatRetry.headers.get('location')).toBe(iat.headers.get('location'));

      const stored = await gh.app.db.query<{ response: unknown; withheld: boolean }>('SELECT response, withheld FROM admin_idempotency_keys');
      const all = JSON.stringify(stored.rows);
      expect(all).not.toContain(secret);
      expect(all).not.toContain(value);
      expect(stored.rows.filter((r) => r.withheld)).toHaveLength(2);
      expect(secretLookingValues(stored.rows, new Set())).toEqual([]);

      // A public client has no secret: its answer is replayed whole.
      const pub = { type: 'public', name: 'Idempotent SPA', redirect_uris: ['https://spa.example.test/cb'] };
      const made = await call('POST', '/clients', { token: full, body: pub, headers: key('client-2') });
      const again = await call('POST', '/clients', { token: full, body: pub, headers: key('client-2') });
      expect(again.status).toBe(201);
      expect(again.body).toEqual(made.body);
      expect(again.headers.get('etag')).toBe(made.headers.get('etag'));
    });

    it('a failed first request gives its key back; a malformed key is 400; actions ignore the header', async () => {
      await call('POST', '/registration-policies', { token: full, body: { name: 'retry-me' } });
      const conflict = await call('POST', '/registration-policies', { token: full, body: { name: 'retry-me' }, headers: key('policy-1') });
      expect(conflict.status).toBe(409);
      await call('DELETE', '/registration-policies/retry-me', { token: full });
      const retried = await call('POST', '/registration-policies', { token: full, body: { name: 'retry-me' }, headers: key('policy-1') });
      expect(retried.status).toBe(201);
      expect(retried.headers.get('idempotency-replayed')).toBeNull();

      for (const malformed of ['unquoted-token', '""', '"has \\x escape"', `"${'k'.repeat(256)}"`, '"a", "b"']) {
        const answer = await call('POST', '/users', { token: full, body: { username: 'never-made', password: 'correct horse battery staple' }, headers: { 'idempotency-key': malformed } });
        expect(answer.status, malformed).toBe(400);
        expect((answer.body as { fields: string[] }).fields).toEqual(['header.Idempotency-Key']);
      }
      expect(await gh.app.services.accounts.find('never-made')).toBeUndefined();
      const user = await gh.createUser();
      expect((await call('POST', `/users/${user.id}/disable`, { token: full, headers: key('x') })).status).toBe(200);
      expect((await call('POST', `/users/${user.id}/disable`, { token: full, headers: key('x') })).headers.get('idempotency-replayed')).toBeNull();
    });

    it('concurrent duplicates create one resource; the others get the replay or 409 in progress', async () => {
      const body = { audience: 'https://concurrent.example.test', name: 'Concurrent', access_token_ttl: 300 };
      const answers = await Promise.all(Array.from({ length: 6 }, () => call('POST', '/resource-servers', { token: full, body, headers: key('concurrent') })));
      const statuses = answers.map((a) => a.status);
      expect(statuses.every((s) => s === 201 || s === 409), String(statuses)).toBe(true);
      expect(answers.filter((a) => a.status === 201 && a.headers.get('idempotency-replayed') === null)).toHaveLength(1);
      for (const busy of answers.filter((a) => a.status === 409)) {
        expect((busy.body as { type: string }).type).toBe('urn:gatehouse:problem:idempotency-key-in-use');
        expect(busy.headers.get('retry-after')).toBe('1');
      }
      expect((await gh.app.services.resources.list()).filter((r) => r.audience === body.audience)).toHaveLength(1);
    });

    it('the store: a key in progress is busy, an expired row is taken over, and the cleanup sweeps expired rows', async () => {
      const store = gh.app.services.adminIdempotency;
      const k = Buffer.alloc(32, 7);
      const fingerprint = Buffer.alloc(32, 1);
      expect(await store.begin(k, fingerprint)).toEqual({ kind: 'started' });
      expect(await store.begin(k, fingerprint)).toEqual({ kind: 'pending' });
      expect(await store.begin(k, Buffer.alloc(32, 2))).toEqual({ kind: 'mismatch' });
      await store.complete(k, { status: 201, body: { a: 1 }, headers: {} }, false, 3600);
      expect(await store.begin(k, fingerprint)).toEqual({ kind: 'done', withheld: false, response: { status: 201, body: { a: 1 }, headers: {} } });
      await gh.app.db.query("UPDATE admin_idempotency_keys SET expires_at = now() - interval '1 second' WHERE key_hash = $1", [k]);
      expect(await store.begin(k, Buffer.alloc(32, 2))).toEqual({ kind: 'started' });
      await gh.app.db.query("UPDATE admin_idempotency_keys SET expires_at = now() - interval '1 second'");
      const { removeExpiredArtifacts } = await import('../../../src/artifacts/cleanup.js');
      expect(await removeExpiredArtifacts(gh.app.db, [store])).toBeGreaterThan(0);
      expect((await gh.app.db.query('SELECT 1 FROM admin_idempotency_keys')).rows).toHaveLength(0);
    });
  });

  it('no answer in this file carries a secret-looking value beyond those shown once', () => {
    const shownOnce = new Set(['client_secret', 'initial_access_token']);
    for (const answer of answers) expect(secretLookingValues(answer.body, shownOnce), answer.text.slice(0, 200)).toEqual([]);
  });
});
