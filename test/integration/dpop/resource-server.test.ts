/**
 * The example resource server (examples/resource-server) accepting
 * DPoP-bound JWT access tokens from Gatehouse: a proof made by oauth4webapi
 * passes; every way a proof can be wrong is refused with a DPoP challenge.
 */
import * as oauth from 'oauth4webapi';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';

import { listen } from '../../../examples/resource-server/api.js';
import { protectedResourceMetadata } from '../../../src/resources/protected-resource-metadata.js';
import { createCertificateAuthority, issueCertificate } from '../../../src/tls/pki.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { asProofKey, proof, proofKey, type ProofKey } from './helpers.js';

const api = 'https://api.example.test';

describe('the example resource server with DPoP-bound tokens', () => {
  let gh: TestGatehouse;
  let server: Awaited<ReturnType<typeof listen>>;
  let apiFetch: typeof fetch;
  let token: string;
  let bearerToken: string;
  let key: ProofKey;
  let DPoP: oauth.DPoPHandle;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_DPOP_REQUIRE_NONCE: 'false' } });
    await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'API', scopes: ['read'], accessTokenTtl: 300 });
    const { clientId, clientSecret } = await gh.createClient({ type: 'service', name: 'worker' });
    const apiCa = await createCertificateAuthority('CN=API CA');
    const apiCert = await issueCertificate({ subject: 'CN=localhost', usage: 'server', issuer: apiCa, altNames: { dns: ['localhost'], ip: ['127.0.0.1'] } });
    server = await listen({ issuer: gh.issuer, audience: api, tls: { key: apiCert.privateKeyPem, cert: apiCert.certificatePem } });
    const dispatcher = new Agent({ connect: { ca: apiCa.certificatePem } });
    apiFetch = ((url: string, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch;

    const as = await oauth.processDiscoveryResponse(new URL(gh.issuer), await oauth.discoveryRequest(new URL(gh.issuer), { [oauth.allowInsecureRequests]: true }));
    const client: oauth.Client = { client_id: clientId };
    const keys = await oauth.generateKeyPair('ES256');
    key = await asProofKey(keys);
    DPoP = oauth.DPoP(client, keys);
    const auth = oauth.ClientSecretBasic(clientSecret!);
    const insecure = { [oauth.allowInsecureRequests]: true };
    token = (await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, { resource: api }, { DPoP, ...insecure }))).access_token;
    bearerToken = (await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, { resource: api }, insecure))).access_token;
  });
  afterAll(async () => {
    server?.server.close();
    await gh?.close();
  });

  const call = async (headers: Record<string, string>, method = 'GET', path = '/orders') => {
    const response = await apiFetch(`${server.url}${path}`, { method, headers });
    return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '' };
  };

  it('accepts the token with a proof made by oauth4webapi', async () => {
    const response = await oauth.protectedResourceRequest(token, 'GET', new URL(`${server.url}/orders?page=2`), undefined, undefined, { DPoP, [oauth.customFetch]: apiFetch });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true });
  });

  it('refuses each wrong proof with a DPoP challenge', async () => {
    const htu = `${server.url}/orders`;
    const now = Math.floor(Date.now() / 1000);
    const other = await proofKey();
    const cases: Array<[string, Record<string, string>, string, string?]> = [
      ['bound token as Bearer', { authorization: `Bearer ${token}` }, 'invalid_token'],
      ['no proof', { authorization: `DPoP ${token}` }, 'invalid_dpop_proof'],
      ['wrong htm', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'POST', htu, accessToken: token }) }, 'invalid_dpop_proof'],
      ['wrong htu', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${server.url}/invoices`, accessToken: token }) }, 'invalid_dpop_proof'],
      ['wrong ath', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: bearerToken }) }, 'invalid_dpop_proof'],
      ['no ath', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu }) }, 'invalid_dpop_proof'],
      ['stale iat', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: token, iat: now - 600 }) }, 'invalid_dpop_proof'],
      ['future iat', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: token, iat: now + 600 }) }, 'invalid_dpop_proof'],
      ['another key', { authorization: `DPoP ${token}`, dpop: await proof(other, { htm: 'GET', htu, accessToken: token }) }, 'invalid_dpop_proof'],
      ['unbound token with the DPoP scheme', { authorization: `DPoP ${bearerToken}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: bearerToken }) }, 'invalid_token'],
    ];
    for (const [name, headers, error] of cases) {
      const refused = await call(headers);
      expect(refused.status, name).toBe(401);
      expect(refused.challenge, name).toMatch(new RegExp(`^DPoP error="${error}"`));
      expect(refused.challenge, name).toContain('algs="ES256 PS256 EdDSA"');
    }
  });

  it('refuses a replayed proof, and still takes the unbound token as Bearer', async () => {
    const once = await proof(key, { htm: 'GET', htu: `${server.url}/orders`, accessToken: token });
    expect((await call({ authorization: `DPoP ${token}`, dpop: once })).status).toBe(200);
    const replay = await call({ authorization: `DPoP ${token}`, dpop: once });
    expect(replay.status).toBe(401);
    expect(replay.challenge).toContain('invalid_dpop_proof');
    expect((await call({ authorization: `Bearer ${bearerToken}` })).status).toBe(200);
  });

  it('names its RFC 9728 metadata in every 401, and the document there points at Gatehouse as Gatehouse describes it', async () => {
    const unauthenticated = await call({});
    expect(unauthenticated.status).toBe(401);
    const metadataUrl = `${server.url}/.well-known/oauth-protected-resource`;
    expect(unauthenticated.challenge).toBe(`Bearer error="invalid_request", error_description="a Bearer or DPoP access token is required", resource_metadata="${metadataUrl}"`);
    expect((await call({ authorization: 'Bearer not-a-token' })).challenge).toContain(`resource_metadata="${metadataUrl}"`);
    const served = (await (await apiFetch(metadataUrl)).json()) as Record<string, unknown>;
    expect(served).toMatchObject({ resource: api, authorization_servers: [gh.issuer], bearer_methods_supported: ['header'] });
    // What the API serves agrees with what Gatehouse produces for it (CLI, admin API).
    const resource = await gh.app.services.resources.find(api);
    expect(protectedResourceMetadata(resource!, { issuer: gh.issuer, dpopSigningAlgs: ['ES256', 'PS256', 'EdDSA'] })).toMatchObject({ resource: served.resource, authorization_servers: served.authorization_servers });
  });
});
