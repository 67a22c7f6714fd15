/**
 * GATEHOUSE_REGISTRATION: `open` lets anyone register, still under the
 * baseline rules; `off` removes the endpoint. (`token`, the default, is what
 * every other suite in this folder runs.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { forUpdate, readClient, register, registerOk, unlimitedRegistration, updateClient, webClient, type Registered } from './helpers.js';
import { operator } from '../../../src/audit/events.js';

describe('open registration', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { ...unlimitedRegistration, GATEHOUSE_REGISTRATION: 'open' } });
  });
  afterAll(() => gh?.close());

  it('registers a client without an initial access token, recorded as registered by nobody', async () => {
    const client = await registerOk(gh, { ...webClient, scope: 'openid' });
    expect(typeof client.client_secret).toBe('string');
    expect(await gh.app.services.clients.find(client.client_id)).toMatchObject({ source: 'registration', registeredBy: null, registrationPolicy: null });
    // Open clients reach no API: their resource list is empty, not absent.
    expect((await readClient(client, client.registration_access_token)).body.resources).toEqual([]);
  });

  it('still holds every registration and update to the baseline rules', async () => {
    const service = await register(gh, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid' });
    expect(service.body.error).toBe('invalid_client_metadata');
    expect((await register(gh, { redirect_uris: ['http://rp.example.test/cb'], scope: 'openid' })).body.error).toBe('invalid_redirect_uri');
    expect((await register(gh, { ...webClient, scope: 'openid', first_party: true })).body.error).toBe('invalid_client_metadata');
    // No policy hook runs without a token, so nothing is defaulted: the client must say what it needs.
    expect((await register(gh, webClient)).body).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(/^scope: register the scopes/) });

    const client = await registerOk(gh, { ...webClient, scope: 'openid' });
    const refused = await updateClient(client, client.registration_access_token, forUpdate(client, { redirect_uris: ['https://*.example.test/cb'] }));
    expect(refused.status).toBe(400);
    const updated = await updateClient(client, client.registration_access_token, forUpdate(client, { client_name: 'Renamed' }));
    expect(updated.status).toBe(200);
    expect((updated.body as Registered).registration_access_token).not.toBe(client.registration_access_token);
  });

  it('refuses software statements (only the token-bound policy hook can verify them)', async () => {
    const answer = await register(gh, { ...webClient, scope: 'openid', software_statement: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_software_statement');
  });
});

describe('registration turned off', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_REGISTRATION: 'off' } });
  });
  afterAll(() => gh?.close());

  it('neither advertises nor serves a registration endpoint', async () => {
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery).not.toHaveProperty('registration_endpoint');
    const { value } = await gh.app.services.initialAccessTokens.create(operator, { expiresInSeconds: 600 });
    const response = await fetch(`${gh.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${value}` }, body: JSON.stringify({ ...webClient, scope: 'openid' }) });
    expect(response.status).toBe(404);
  });
});
