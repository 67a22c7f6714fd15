/**
 * The admin API as a DPoP resource server (issue 14 §2, issue 17): an admin
 * service client with DPoP-bound tokens calls it with oauth4webapi's proofs;
 * every wrong proof, a replay (through the shared record), the bound token
 * sent as Bearer and an unbound token in the DPoP scheme are refused with
 * RFC 9449 §7.1 challenges; where sender-constrained tokens are required, a
 * DPoP-bound token serves and a bearer one does not.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { adminAudience } from '../../../src/resources/admin-audience.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { asProofKey, proof, proofKey, type ProofKey } from '../dpop/helpers.js';
import { adminServiceClient } from './helpers.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('DPoP-bound tokens at the admin API', () => {
  let gh: TestGatehouse;
  let token: string;
  let key: ProofKey;
  let DPoP: oauth.DPoPHandle;
  let bearerToken: string;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_DPOP_REQUIRE_NONCE: 'false', GATEHOUSE_ADMIN_REQUIRE_BOUND_TOKENS: 'true' } });
    const { client, clientSecret } = await gh.app.services.clients.create(operator, { type: 'service', name: 'dpop admin', scope: 'admin:users.read', dpopBoundTokens: true });
    const as = await oauth.processDiscoveryResponse(new URL(gh.issuer), await oauth.discoveryRequest(new URL(gh.issuer), insecure));
    const rp: oauth.Client = { client_id: client.clientId };
    const keys = await oauth.generateKeyPair('ES256');
    key = await asProofKey(keys);
    DPoP = oauth.DPoP(rp, keys);
    const response = await oauth.clientCredentialsGrantRequest(as, rp, oauth.ClientSecretBasic(clientSecret!), { resource: adminAudience, scope: 'admin:users.read' }, { DPoP, ...insecure });
    const tokens = await oauth.processClientCredentialsResponse(as, rp, response);
    expect(tokens.token_type.toLowerCase()).toBe('dpop');
    token = tokens.access_token;
    bearerToken = await (await adminServiceClient(gh, ['admin:users.read'])).token();
  });
  afterAll(() => gh?.close());

  const url = () => `${gh.issuer}/admin/v1/users`;
  const call = async (headers: Record<string, string>, method = 'GET', path = '/users') => {
    const response = await fetch(`${gh.issuer}/admin/v1${path}`, { method, headers });
    return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', type: response.headers.get('content-type') ?? '' };
  };

  it('accepts the bound token with a proof made by oauth4webapi, also where binding is required', async () => {
    const response = await oauth.protectedResourceRequest(token, 'GET', new URL(`${url()}?limit=5`), undefined, undefined, { DPoP, ...insecure });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { items: unknown[] }).items).toBeInstanceOf(Array);
  });

  it('refuses a bearer (unbound) token where binding is required', async () => {
    const answer = await call({ authorization: `Bearer ${bearerToken}` });
    expect(answer.status).toBe(401);
    expect(answer.challenge).toContain('error="invalid_token"');
    expect(answer.challenge).toContain('certificate- or DPoP-bound');
  });

  it('refuses each wrong proof, the bound token as Bearer and an unbound token as DPoP, with the DPoP challenge', async () => {
    const htu = url();
    const now = Math.floor(Date.now() / 1000);
    const other = await proofKey();
    const cases: Array<[string, Record<string, string>, string]> = [
      ['bound token as Bearer', { authorization: `Bearer ${token}` }, 'invalid_token'],
      ['no proof', { authorization: `DPoP ${token}` }, 'invalid_dpop_proof'],
      ['two proofs', { authorization: `DPoP ${token}`, dpop: `${await proof(key, { htm: 'GET', htu, accessToken: token })}, ${await proof(key, { htm: 'GET', htu, accessToken: token })}` }, 'invalid_dpop_proof'],
      ['wrong htm', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'POST', htu, accessToken: token }) }, 'invalid_dpop_proof'],
      ['wrong htu', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${gh.issuer}/admin/v1/clients`, accessToken: token }) }, 'invalid_dpop_proof'],
      ['wrong ath', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: bearerToken }) }, 'invalid_dpop_proof'],
      ['no ath', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu }) }, 'invalid_dpop_proof'],
      ['stale iat', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: token, iat: now - 600 }) }, 'invalid_dpop_proof'],
      ['future iat', { authorization: `DPoP ${token}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: token, iat: now + 600 }) }, 'invalid_dpop_proof'],
      ['another key', { authorization: `DPoP ${token}`, dpop: await proof(other, { htm: 'GET', htu, accessToken: token }) }, 'invalid_dpop_proof'],
      ['unbound token in the DPoP scheme', { authorization: `DPoP ${bearerToken}`, dpop: await proof(key, { htm: 'GET', htu, accessToken: bearerToken }) }, 'invalid_token'],
    ];
    for (const [name, headers, code] of cases) {
      const answer = await call(headers);
      expect(answer.status, name).toBe(401);
      expect(answer.type, name).toMatch(/^application\/problem\+json/);
      expect(answer.challenge, name).toMatch(new RegExp(`^DPoP realm="gatehouse-admin", error="${code}", error_description="[^"]+", algs="ES256 PS256 EdDSA"$`));
    }
  });

  it('accepts a proof once: the same proof again is a replay', async () => {
    const dpop = await proof(key, { htm: 'GET', htu: url(), accessToken: token });
    const first = await call({ authorization: `DPoP ${token}`, dpop });
    expect(first.status).toBe(200);
    const again = await call({ authorization: `DPoP ${token}`, dpop });
    expect(again.status).toBe(401);
    expect(again.challenge).toContain('error="invalid_dpop_proof", error_description="the DPoP proof was already used"');
  });

  it('takes the scheme in any case (RFC 7235 §2.1) and checks htu without the query', async () => {
    const answer = await call({ authorization: `dpop ${token}`, dpop: await proof(key, { htm: 'GET', htu: `${url()}?limit=1`, accessToken: token }) }, 'GET', '/users?limit=2');
    expect(answer.status).toBe(200);
  });
});
