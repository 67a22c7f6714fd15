/**
 * Registration policies: every rule has a request that breaks it, and the
 * answer is RFC 7591 §3.2.2's (400, invalid_redirect_uri or
 * invalid_client_metadata) with a description naming the field and value.
 * Rules hold at registration and at every update, and a policy an operator
 * changes applies to the next request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { deleteClient, forUpdate, mintToken, readClient, register, registerOk, unlimitedRegistration, updateClient, type Answer } from './helpers.js';
import { operator } from '../../../src/audit/events.js';

function expectRefusal(answer: Answer, error: 'invalid_redirect_uri' | 'invalid_client_metadata', description: RegExp) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(400);
  expect(answer.body.error).toBe(error);
  expect(answer.body.error_description).toMatch(description);
}

describe('registration policies', () => {
  let gh: TestGatehouse;
  /** Minted per test, generous: the rules are what is under test here, not the token's uses. */
  const token = async (policy?: string) => (await mintToken(gh, { maxUses: 100, ...(policy ? { policy } : {}) })).value;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: unlimitedRegistration });
    const policies = gh.app.services.registrationPolicies;
    await policies.set(operator, 'strict', {
      grantTypes: ['authorization_code'],
      authMethods: ['client_secret_basic', 'private_key_jwt'],
      redirectHosts: ['app.example.com', '*.partner.example'],
      nativeRedirects: false,
      scopes: ['openid', 'email'],
    });
    await policies.set(operator, 'defaults', { authMethods: ['client_secret_post', 'none'], defaultAuthMethod: 'client_secret_post', scopes: ['openid'], resources: ['https://api.example.test'] });
    await policies.set(operator, 'capped', { maxClientsPerToken: 2 });
  });
  afterAll(() => gh?.close());

  describe('grant types and auth methods', () => {
    it('refuses a grant type the policy does not allow', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code', 'refresh_token'] }, await token('strict')), 'invalid_client_metadata', /^grant_types: refresh_token is not allowed/);
    });

    it('refuses client credentials under the baseline (no service clients without an operator policy)', async () => {
      expectRefusal(await register(gh, { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }, await token()), 'invalid_client_metadata', /^grant_types: client_credentials is not allowed/);
    });

    it('refuses an auth method the policy does not allow', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'client_secret_post' }, await token('strict')), 'invalid_client_metadata', /^token_endpoint_auth_method: client_secret_post is not allowed/);
    });

    it("applies the policy's default auth method and scopes when the client names none", async () => {
      const client = await registerOk(gh, { redirect_uris: ['https://app.example.com/cb'] }, await token('defaults'));
      expect(client).toMatchObject({ token_endpoint_auth_method: 'client_secret_post', scope: 'openid', resources: ['https://api.example.test'] });
      expect(typeof client.client_secret).toBe('string');

      // A public client (PKCE only) gets no secret at all.
      const pub = await registerOk(gh, { redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'none' }, await token('defaults'));
      expect(pub.client_secret).toBeUndefined();
      expect(pub.client_secret_expires_at).toBeUndefined();
    });
  });

  describe('redirect URIs', () => {
    it('requires https (http only for loopback)', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['http://app.example.com/cb'] }, await token()), 'invalid_redirect_uri', /^redirect_uris http:\/\/app\.example\.com\/cb must use https/);
    });

    it('refuses fragments', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb#frag'] }, await token()), 'invalid_redirect_uri', /^redirect_uris .*fragment/);
    });

    it('refuses wildcards', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/*'] }, await token()), 'invalid_redirect_uri', /^redirect_uris https:\/\/app\.example\.com\/\* must not contain wildcards/);
    });

    it('refuses credentials in the URI', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://user:pass@app.example.com/cb'] }, await token()), 'invalid_redirect_uri', /must not carry credentials/);
    });

    it('holds hosts to the allowed list, where *.domain means its subdomains', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://evil.example/cb'] }, await token('strict')), 'invalid_redirect_uri', /host evil\.example is not allowed/);
      expectRefusal(await register(gh, { redirect_uris: ['https://partner.example/cb'] }, await token('strict')), 'invalid_redirect_uri', /host partner\.example is not allowed/);
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com.evil.example/cb'] }, await token('strict')), 'invalid_redirect_uri', /is not allowed/);
      await registerOk(gh, { redirect_uris: ['https://app.example.com/cb', 'https://eu.partner.example/cb'] }, await token('strict'));
    });

    it('allows native apps loopback http on an IP literal and reverse-domain private-use schemes (RFC 8252)', async () => {
      const native = { application_type: 'native', token_endpoint_auth_method: 'none' };
      await registerOk(gh, { ...native, redirect_uris: ['http://127.0.0.1:8400/cb', 'http://[::1]/cb', 'com.example.app:/oauth2redirect'] }, await token());
      expectRefusal(await register(gh, { ...native, redirect_uris: ['http://localhost:8400/cb'] }, await token()), 'invalid_redirect_uri', /rather than localhost/);
      expectRefusal(await register(gh, { ...native, redirect_uris: ['myapp:/cb'] }, await token()), 'invalid_redirect_uri', /reverse domain name/);
    });

    it('refuses native-app redirects when the policy does not allow them', async () => {
      const native = { application_type: 'native', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [] } };
      expectRefusal(await register(gh, { ...native, redirect_uris: ['http://127.0.0.1:8400/cb'] }, await token('strict')), 'invalid_redirect_uri', /loopback redirects \(native apps\) are not allowed/);
      expectRefusal(await register(gh, { ...native, redirect_uris: ['com.example.app:/cb'] }, await token('strict')), 'invalid_redirect_uri', /does not allow native-app redirects/);
    });

    it('holds post-logout redirect URIs to the same rules', async () => {
      expectRefusal(
        await register(gh, { redirect_uris: ['https://app.example.com/cb'], post_logout_redirect_uris: ['http://app.example.com/bye'] }, await token()),
        'invalid_client_metadata',
        /^post_logout_redirect_uris http:\/\/app\.example\.com\/bye must use https/,
      );
    });
  });

  describe('scopes and resources', () => {
    it('refuses a scope the policy does not allow', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb'], scope: 'openid profile' }, await token('strict')), 'invalid_client_metadata', /^scope: profile is not allowed/);
    });

    it('refuses a resource the policy does not allow', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb'], resources: ['https://other-api.example.test'] }, await token('defaults')), 'invalid_client_metadata', /^resources: https:\/\/other-api\.example\.test is not allowed/);
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb'], resources: ['https://api.example.test'] }, await token()), 'invalid_client_metadata', /allowed: none/);
    });
  });

  describe('what registration never grants', () => {
    it('refuses first_party (consent is skipped only for clients an operator marks)', async () => {
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb'], first_party: true }, await token()), 'invalid_client_metadata', /^first_party is set by operators/);
    });

    it('refuses URLs the server would fetch: jwks_uri and sector_identifier_uri', async () => {
      const jwksUri = await register(gh, { redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://169.254.169.254/keys' }, await token());
      expectRefusal(jwksUri, 'invalid_client_metadata', /^jwks_uri is not accepted/);
      const sector = await register(gh, { redirect_uris: ['https://app.example.com/cb'], sector_identifier_uri: 'https://169.254.169.254/sector' }, await token());
      expectRefusal(sector, 'invalid_client_metadata', /^sector_identifier_uri is not accepted/);
    });
  });

  describe('clients per token', () => {
    it('caps the live clients one token has registered; deleting one frees its place', async () => {
      const capped = await token('capped');
      const first = await registerOk(gh, { redirect_uris: ['https://app.example.com/cb'] }, capped);
      await registerOk(gh, { redirect_uris: ['https://app.example.com/cb'] }, capped);
      expectRefusal(await register(gh, { redirect_uris: ['https://app.example.com/cb'] }, capped), 'invalid_client_metadata', /allows 2 clients per initial access token/);
      expect((await deleteClient(first, first.registration_access_token)).status).toBe(204);
      await registerOk(gh, { redirect_uris: ['https://app.example.com/cb'] }, capped);
    });
  });

  describe('on update', () => {
    it('holds an update to the policy the client registered under, and changes nothing when it refuses', async () => {
      const client = await registerOk(gh, { redirect_uris: ['https://app.example.com/cb'], scope: 'openid' }, await token('strict'));
      const rat = client.registration_access_token;
      expectRefusal(await updateClient(client, rat, forUpdate(client, { redirect_uris: ['https://evil.example/cb'] })), 'invalid_redirect_uri', /host evil\.example is not allowed/);
      expectRefusal(await updateClient(client, rat, forUpdate(client, { grant_types: ['authorization_code', 'refresh_token'] })), 'invalid_client_metadata', /^grant_types: refresh_token/);
      expectRefusal(await updateClient(client, rat, forUpdate(client, { first_party: true })), 'invalid_client_metadata', /^first_party/);

      // Refused updates neither rotate the registration access token nor change the client.
      const read = await readClient(client, rat);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ redirect_uris: ['https://app.example.com/cb'], client_secret: client.client_secret });
    });

    it('applies a policy the operator tightened to the next update', async () => {
      await gh.app.services.registrationPolicies.set(operator, 'tightened', { scopes: ['openid', 'email'] });
      const client = await registerOk(gh, { redirect_uris: ['https://app.example.com/cb'], scope: 'openid email' }, await token('tightened'));
      await gh.app.services.registrationPolicies.set(operator, 'tightened', { scopes: ['openid'] });
      expectRefusal(await updateClient(client, client.registration_access_token, forUpdate(client)), 'invalid_client_metadata', /^scope: email is not allowed/);
      const narrowed = await updateClient(client, client.registration_access_token, forUpdate(client, { scope: 'openid' }));
      expect(narrowed.status).toBe(200);
    });
  });
});
