/**
 * Dynamic client registration (RFC 7591) and management (RFC 7592) on a real
 * server: a client registered by openid-client with an initial access token
 * signs a user in and gets client-credentials tokens; the registration access
 * token reads, updates (and is then replaced) and deletes; initial access
 * tokens that are missing, unknown, expired, revoked or used up are refused.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { clientCredentials, deleteClient, forUpdate, mintToken, readClient, register, registerOk, unlimitedRegistration, updateClient, webClient, type Registered } from './helpers.js';
import { operator } from '../../../src/audit/events.js';

const api = 'https://api.example.test';
const redirectUri = 'https://rp.example.test/cb';
const now = () => Math.floor(Date.now() / 1000);

/** RFC 6750 §3: a 401 with a Bearer challenge naming invalid_token. */
function expectInvalidToken(answer: { status: number; headers: Headers; body: Record<string, unknown> }) {
  expect(answer.status).toBe(401);
  expect(answer.body.error).toBe('invalid_token');
  expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token"/);
}

describe('dynamic client registration', () => {
  let gh: TestGatehouse;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: unlimitedRegistration });
    await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'Example API', scopes: ['read', 'write'], accessTokenTtl: 300 });
    await gh.app.services.registrationPolicies.set(operator, 'partners', {
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
      authMethods: ['client_secret_basic', 'client_secret_post'],
      scopes: ['openid', 'email'],
      resources: [api],
      secretLifetimeSeconds: 86_400,
    });
  });
  afterAll(() => gh?.close());

  it('advertises the registration endpoint in discovery', async () => {
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.registration_endpoint).toBe(`${gh.issuer}/reg`);
  });

  it('openid-client registers with an initial access token; the client signs a user in (code + PKCE) and gets client-credentials tokens', async () => {
    const token = await mintToken(gh, { policy: 'partners' });
    const config = await oidc.dynamicClientRegistration(
      new URL(gh.issuer),
      {
        client_name: 'Partner app',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        token_endpoint_auth_method: 'client_secret_post',
        scope: 'openid email',
        resources: [api],
      },
      undefined,
      { initialAccessToken: token.value, execute: [oidc.allowInsecureRequests] },
    );
    const metadata = config.clientMetadata();
    expect(typeof metadata.client_secret).toBe('string');
    expect(metadata.client_secret_expires_at).toBeGreaterThanOrEqual(now() + 86_400 - 60);
    expect(metadata.client_secret_expires_at).toBeLessThanOrEqual(now() + 86_400 + 5);
    expect(typeof metadata.registration_access_token).toBe('string');

    const user = await gh.createUser();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid email',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'registered-state',
    });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 'registered-state' });
    expect(tokens.claims()?.sub).toBe(user.id);
    expect(tokens.claims()?.aud).toBe(metadata.client_id);

    const service = await oidc.clientCredentialsGrant(config, { resource: api, scope: 'read' });
    const { payload } = await jwtVerify(service.access_token, createRemoteJWKSet(new URL(`${gh.issuer}/jwks`)), { issuer: gh.issuer, audience: api });
    expect(payload.client_id).toBe(metadata.client_id);
    expect(payload.scope).toBe('read');

    const stored = await gh.app.services.clients.find(metadata.client_id);
    expect(stored).toMatchObject({ source: 'registration', registeredBy: token.id, registrationPolicy: 'partners', name: 'Partner app' });
    expect((await gh.app.services.initialAccessTokens.find(token.id))?.uses).toBe(1);
  });

  it('a registration with a token may name its policy\'s API scopes (RFC 7591 scope), and gets only those', async () => {
    await gh.app.services.resources.add(operator, { rbac: false, audience: 'https://elsewhere.example.test/', name: 'Not the policy\'s', scopes: ['files:read'], accessTokenTtl: 300 });
    const token = await mintToken(gh, { policy: 'partners', maxUses: 10 });
    const service = { ...webClient, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' };
    const client = await registerOk(gh, { ...service, scope: 'read' }, token.value);
    expect(client.scope).toBe('read openid email');
    // write is the API's too, but this client did not register it (RFC 6749 §3.3).
    const granted = await clientCredentials(gh, client.client_id, client.client_secret!, { resource: api, scope: 'read write' });
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    expect(granted.body.scope).toBe('read');
    for (const scope of ['files:read', 'read delete', 'openid roles']) {
      const refused = await register(gh, { ...service, scope }, token.value);
      expect(refused.status, scope).toBe(400);
      expect(refused.body.error, scope).toBe('invalid_client_metadata');
    }
  });

  it('generates the client secret itself: a secret the client proposes is ignored and does not authenticate', async () => {
    const token = await mintToken(gh, { policy: 'partners' });
    const proposed = 'a-secret-the-client-would-like-to-use-0123456789';
    const client = await registerOk(gh, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], client_secret: proposed }, token.value);
    expect(client.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(client.client_secret).not.toBe(proposed);
    expect((await clientCredentials(gh, client.client_id, proposed)).status).toBe(401);
    expect((await clientCredentials(gh, client.client_id, client.client_secret!)).status).toBe(200);

    const chosen = await updateClient(client, client.registration_access_token, { ...forUpdate(client), client_secret: proposed });
    expect(chosen.status).toBe(400);
    expect(chosen.body.error).toBe('invalid_request');
  });

  it('reads, updates and deletes with the registration access token; an update replaces that token and the client secret', async () => {
    const token = await mintToken(gh, { policy: 'partners' });
    const client = await registerOk(gh, { client_name: 'Worker', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, token.value);
    const firstRat = client.registration_access_token;

    const read = await readClient(client, firstRat);
    expect(read.status).toBe(200);
    expect(read.headers.get('cache-control')).toBe('no-store');
    expect(read.body).toMatchObject({ client_id: client.client_id, client_name: 'Worker', client_secret: client.client_secret, registration_client_uri: client.registration_client_uri });

    const updated = await updateClient(client, firstRat, forUpdate(client, { client_name: 'Worker v2' }));
    expect(updated.status).toBe(200);
    const renewed = updated.body as Registered;
    expect(renewed.client_name).toBe('Worker v2');
    expect(renewed.registration_access_token).not.toBe(firstRat);
    expect(renewed.client_secret).not.toBe(client.client_secret);
    expect(renewed.client_secret_expires_at).toBeGreaterThan(now());

    // RFC 7592 §2.2: the client must discard both; Gatehouse makes sure the old ones are dead.
    expectInvalidToken(await readClient(client, firstRat));
    expectInvalidToken(await updateClient(client, firstRat, forUpdate(renewed, { client_name: 'Hijacked' })));
    expect((await clientCredentials(gh, client.client_id, client.client_secret!)).body.error).toBe('invalid_client');
    expect((await clientCredentials(gh, client.client_id, renewed.client_secret!, { resource: api, scope: 'read' })).status).toBe(200);
    expect((await readClient(client, renewed.registration_access_token)).body.client_name).toBe('Worker v2');

    const removed = await deleteClient(client, renewed.registration_access_token);
    expect(removed.status).toBe(204);
    expectInvalidToken(await readClient(client, renewed.registration_access_token));
    expect((await clientCredentials(gh, client.client_id, renewed.client_secret!)).status).toBe(401);
    expect(await gh.app.services.clients.find(client.client_id)).toBeUndefined();
  });

  it('a registration access token manages its own client only', async () => {
    const token = await mintToken(gh, { maxUses: 2 });
    const one = await registerOk(gh, webClient, token.value);
    const other = await registerOk(gh, webClient, token.value);
    expectInvalidToken(await readClient(other, one.registration_access_token));
    expectInvalidToken(await deleteClient(other, one.registration_access_token));
    expect(await gh.app.services.clients.find(other.client_id)).toBeDefined();
  });

  it('refuses registration without an initial access token, or with one it did not mint', async () => {
    const none = await register(gh, webClient);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    expectInvalidToken(await register(gh, webClient, 'not-a-token-this-server-minted-0123456789abcd'));

    // A registration access token is not an initial access token.
    const client = await registerOk(gh, webClient, (await mintToken(gh)).value);
    expectInvalidToken(await register(gh, webClient, client.registration_access_token));
  });

  it('refuses expired, revoked and used-up initial access tokens', async () => {
    const expired = await mintToken(gh);
    await gh.app.db.query("UPDATE initial_access_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [expired.id]);
    expectInvalidToken(await register(gh, webClient, expired.value));

    const revoked = await mintToken(gh);
    await gh.app.services.initialAccessTokens.revoke(operator, revoked.id);
    expectInvalidToken(await register(gh, webClient, revoked.value));

    const twice = await mintToken(gh, { maxUses: 2 });
    await registerOk(gh, webClient, twice.value);
    await registerOk(gh, webClient, twice.value);
    expectInvalidToken(await register(gh, webClient, twice.value));

    const statuses = new Map((await gh.app.services.initialAccessTokens.list()).map((t) => [t.id, t.status]));
    expect([statuses.get(expired.id), statuses.get(revoked.id), statuses.get(twice.id)]).toEqual(['expired', 'revoked', 'used-up']);
  });

  it('a refused registration uses nothing up', async () => {
    const once = await mintToken(gh);
    const refused = await register(gh, { redirect_uris: ['http://rp.example.test/cb'] }, once.value);
    expect(refused.status).toBe(400);
    expect((await gh.app.services.initialAccessTokens.find(once.id))?.uses).toBe(0);
    await registerOk(gh, webClient, once.value);
  });

  it('racing registrations cannot overrun a token: exactly its uses succeed', async () => {
    const three = await mintToken(gh, { maxUses: 3 });
    const answers = await Promise.all(Array.from({ length: 8 }, () => register(gh, webClient, three.value)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 401)).toHaveLength(5);
    expect((await gh.app.services.initialAccessTokens.find(three.id))?.uses).toBe(3);
  });

  it('an expired secret stops authenticating, and an update through the management API issues a fresh one', async () => {
    const token = await mintToken(gh, { policy: 'partners' });
    const client = await registerOk(gh, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, token.value);
    await gh.app.db.query("UPDATE clients SET metadata = jsonb_set(metadata, '{client_secret_expires_at}', to_jsonb($2::integer)) WHERE client_id = $1", [client.client_id, now() - 3600]);
    const expired = await clientCredentials(gh, client.client_id, client.client_secret!);
    // RFC 6749 §5.2: the client authenticated with the Authorization header, so 401 and a challenge, as for a wrong secret.
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toMatch(/^Basic realm="http:\/\/[^"]+", error="invalid_client", error_description="[^"]*expired[^"]*"$/);
    expect(expired.body).toMatchObject({ error: 'invalid_client', error_description: expect.stringMatching(/expired/) });

    const renewed = (await updateClient(client, client.registration_access_token, forUpdate(client))).body as Registered;
    expect(renewed.client_secret_expires_at).toBeGreaterThan(now() + 86_000);
    expect((await clientCredentials(gh, client.client_id, renewed.client_secret!)).status).toBe(200);
  });

  it('a registered client only gets tokens for the resources it registered', async () => {
    const token = await mintToken(gh, { policy: 'partners' });
    const client = await registerOk(gh, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], resources: [] }, token.value);
    const denied = await clientCredentials(gh, client.client_id, client.client_secret!, { resource: api, scope: 'read' });
    expect(denied.status).toBe(400);
    expect(denied.body.error).toBe('invalid_target');
  });

  it('audits registration, token use, update, secret rotation, deletion and refusals, with request id and IP', async () => {
    const token = await mintToken(gh, { policy: 'partners', maxUses: 1 });
    const client = await registerOk(gh, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, token.value);
    const renewed = (await updateClient(client, client.registration_access_token, forUpdate(client, { client_name: 'Audited' }))).body as Registered;
    expect((await updateClient(client, renewed.registration_access_token, forUpdate(renewed, { scope: 'openid profile' }))).status).toBe(400);
    expect((await deleteClient(client, renewed.registration_access_token)).status).toBe(204);
    expect((await register(gh, webClient, token.value)).status).toBe(401);
    await gh.app.audit.flush();

    const { rows } = await gh.app.db.query<{ type: string; outcome: string; actor: string | null; subject: string | null; client_id: string | null; ip: string | null; request_id: string | null; detail: Record<string, unknown> }>(
      'SELECT type, outcome, actor, subject, client_id, ip, request_id, detail FROM audit_events WHERE client_id = $1 OR subject = $2 ORDER BY seq',
      [client.client_id, token.id],
    );
    expect(rows.map((r) => `${r.type}:${r.outcome}`)).toEqual([
      // Minted through the service, which audits it with its actor (the operator, as `gatehouse iat create` would).
      'iat.created:success',
      'client.registered:success',
      'iat.used:success',
      'client.updated:success',
      'client.secret_rotated:success',
      'client.update_rejected:failure',
      // Deleting a client ends its grants and tokens first (issue 18 §5, src/sessions/).
      'client.tokens_revoked:success',
      'client.deleted:success',
      'iat.rejected:failure',
    ]);
    expect(rows[0]).toMatchObject({ actor: 'operator', subject: token.id, detail: { policy: 'partners', maxUses: 1 } });
    expect(rows[1]).toMatchObject({ actor: `iat:${token.id}`, subject: client.client_id, ip: '127.0.0.1', detail: { initialAccessToken: token.id, policy: 'partners' } });
    expect(rows[1]!.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(rows.at(-1)!.detail).toEqual({ reason: 'used-up' });
    const everything = JSON.stringify(rows);
    for (const credential of [token.value, client.client_secret!, renewed.client_secret!, client.registration_access_token, renewed.registration_access_token]) {
      expect(everything).not.toContain(credential);
    }
  });

  it('an operator can disable a registered client and enable it again', async () => {
    const token = await mintToken(gh, { policy: 'partners' });
    const client = await registerOk(gh, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, token.value);
    await gh.app.services.clients.setDisabled(operator, client.client_id, true);
    expect((await clientCredentials(gh, client.client_id, client.client_secret!)).status).toBe(401);
    await gh.app.services.clients.setDisabled(operator, client.client_id, false);
    expect((await clientCredentials(gh, client.client_id, client.client_secret!)).status).toBe(200);
  });
});
