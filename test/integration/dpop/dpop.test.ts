/**
 * DPoP (RFC 9449) against a real Gatehouse: oauth4webapi (a certified FAPI 2.0
 * client) for client credentials, openid-client's DPoP support for a public
 * client's authorization code flow, refresh and userinfo, and hand-made
 * proofs for every way a proof can be wrong.
 */
import { randomBytes } from 'node:crypto';

import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { asProofKey, basic, currentStep, fetchNonce, nonceFor, proof, proofKey, tokenRequest, type KeyPair } from './helpers.js';

const api = 'https://api.example.test';
const masterKey = randomBytes(32).toString('base64url');

/** oauth4webapi's own retry: one use_dpop_nonce answer, then the request again with the nonce it cached. */
async function withNonceRetry(request: () => Promise<Response>, process: (response: Response) => Promise<oauth.TokenEndpointResponse>) {
  try {
    return await process(await request());
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    return process(await request());
  }
}

describe('DPoP-bound tokens', () => {
  let gh: TestGatehouse;
  let tokenUrl: string;
  let bound: { clientId: string; clientSecret: string };
  let optional: { clientId: string; clientSecret: string };

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_MASTER_KEY: masterKey } });
    tokenUrl = `${gh.issuer}/token`;
    await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'API', scopes: ['read'], accessTokenTtl: 300 });
    const made = await gh.createClient({ type: 'service', name: 'DPoP worker', dpopBoundTokens: true });
    bound = { clientId: made.clientId, clientSecret: made.clientSecret! };
    const plain = await gh.createClient({ type: 'service', name: 'Plain worker' });
    optional = { clientId: plain.clientId, clientSecret: plain.clientSecret! };
  });
  afterAll(() => gh?.close());

  it('advertises the proof algorithms in discovery', async () => {
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.dpop_signing_alg_values_supported).toEqual(['ES256', 'PS256', 'EdDSA']);
  });

  it('binds client-credentials tokens to the key with oauth4webapi: cnf.jkt in the JWT and in introspection', async () => {
    const as = await oauth.processDiscoveryResponse(new URL(gh.issuer), await oauth.discoveryRequest(new URL(gh.issuer), { [oauth.allowInsecureRequests]: true }));
    const client: oauth.Client = { client_id: bound.clientId };
    const auth = oauth.ClientSecretBasic(bound.clientSecret);
    const keys = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, keys);
    const options = { DPoP, [oauth.allowInsecureRequests]: true };
    const { thumbprint } = await asProofKey(keys);

    const jwt = await withNonceRetry(
      () => oauth.clientCredentialsGrantRequest(as, client, auth, { resource: api, scope: 'read' }, options),
      (response) => oauth.processClientCredentialsResponse(as, client, response),
    );
    expect(jwt.token_type).toBe('dpop');
    expect((decodeJwt(jwt.access_token).cnf as Record<string, string>).jkt).toBe(thumbprint);

    const opaque = await oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, {}, options));
    expect(opaque.token_type).toBe('dpop');
    const introspection = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, opaque.access_token, { [oauth.allowInsecureRequests]: true }));
    expect(introspection.active).toBe(true);
    expect(introspection.token_type).toBe('DPoP');
    expect(introspection.cnf).toEqual({ jkt: thumbprint });
  });

  it('asks for a nonce, and refuses a proof without one, with a made-up one, or with one from long ago', async () => {
    const key = await proofKey();
    const authorization = basic(bound.clientId, bound.clientSecret);
    const missing = await tokenRequest(tokenUrl, { authorization, dpop: await proof(key, { htm: 'POST', htu: tokenUrl }) });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('use_dpop_nonce');
    expect(missing.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    for (const nonce of ['made-up', nonceFor(masterKey, currentStep() - 10), nonceFor(randomBytes(32).toString('base64url'), currentStep())]) {
      const refused = await tokenRequest(tokenUrl, { authorization, dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce }) });
      expect(refused.status, nonce).toBe(400);
      expect(refused.body.error, nonce).toBe('use_dpop_nonce');
      expect(refused.headers.get('dpop-nonce'), nonce).toBeTruthy();
    }
    // The nonce is a function of the master secret and the minute, not of the node: any node holding the secret accepts it.
    const derived = await tokenRequest(tokenUrl, { authorization, dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce: nonceFor(masterKey, currentStep()) }) });
    expect(derived.status, JSON.stringify(derived.body)).toBe(200);
  });

  it('refuses a replayed proof, a wrong htm or htu, another signature algorithm, and an iat out of the window', async () => {
    const key = await proofKey();
    const authorization = basic(bound.clientId, bound.clientSecret);
    const nonce = await fetchNonce(tokenUrl, authorization, key);
    const once = await proof(key, { htm: 'POST', htu: tokenUrl, nonce });
    expect((await tokenRequest(tokenUrl, { authorization, dpop: once })).status).toBe(200);
    const replay = await tokenRequest(tokenUrl, { authorization, dpop: once });
    expect(replay.status).toBe(400);
    expect(replay.body).toMatchObject({ error: 'invalid_dpop_proof' });
    await gh.app.audit.flush();
    const { rows: audited } = await gh.app.db.query<{ outcome: string; client_id: string; request_id: string | null; detail: Record<string, unknown> }>(
      "SELECT outcome, client_id, request_id, detail FROM audit_events WHERE type = 'dpop.proof_replayed'",
    );
    expect(audited).toEqual([expect.objectContaining({ outcome: 'failure', client_id: bound.clientId, detail: { endpoint: 'token' } })]);
    expect(audited[0]!.request_id).toBeTruthy();

    const cases: Array<[string, Promise<string>]> = [
      ['htm GET', proof(key, { htm: 'GET', htu: tokenUrl, nonce })],
      ['htu of another endpoint', proof(key, { htm: 'POST', htu: `${gh.issuer}/me`, nonce })],
      ['htu of another origin', proof(key, { htm: 'POST', htu: 'https://elsewhere.example/token', nonce })],
      ['RS256 proof', proofKey('RS256').then((rsa) => proof(rsa, { htm: 'POST', htu: tokenUrl, nonce }, 'RS256'))],
    ];
    for (const [name, dpop] of cases) {
      const refused = await tokenRequest(tokenUrl, { authorization, dpop: await dpop });
      expect(refused.status, name).toBe(400);
      expect(refused.body.error, name).toBe('invalid_dpop_proof');
    }
    // Without a nonce, iat is all that dates the proof (RFC 9449 §4.3 step 9); outside the window the server asks for a nonce.
    for (const iat of [Math.floor(Date.now() / 1000) - 600, Math.floor(Date.now() / 1000) + 600]) {
      const refused = await tokenRequest(tokenUrl, { authorization: basic(optional.clientId, optional.clientSecret), dpop: await proof(key, { htm: 'POST', htu: tokenUrl, iat }) });
      expect(refused.status, String(iat)).toBe(400);
      expect(refused.body.error, String(iat)).toBe('use_dpop_nonce');
      expect(refused.headers.get('dpop-nonce')).toBeTruthy();
    }
  });

  it('refuses a token request without a proof from a client registered with dpop_bound_access_tokens', async () => {
    const refused = await tokenRequest(tokenUrl, { authorization: basic(bound.clientId, bound.clientSecret) });
    expect(refused.status).toBe(400);
    // The library answers invalid_grant with its generic description for every grant failure.
    expect(refused.body.error).toBe('invalid_grant');
    // Without the flag the proof is optional, and without one the token is a plain bearer token.
    const unbound = await tokenRequest(tokenUrl, { authorization: basic(optional.clientId, optional.clientSecret) });
    expect(unbound.status).toBe(200);
    expect(unbound.body.token_type).toBe('Bearer');
  });

  it('keeps replay records hashed, and the cleanup schedule removes them once expired', async () => {
    const key = await proofKey();
    const authorization = basic(bound.clientId, bound.clientSecret);
    const nonce = await fetchNonce(tokenUrl, authorization, key);
    const jti = `jti-${randomBytes(8).toString('hex')}`;
    expect((await tokenRequest(tokenUrl, { authorization, dpop: await proof(key, { htm: 'POST', htu: tokenUrl, nonce, jti }) })).status).toBe(200);
    const { rows } = await gh.app.db.query<{ jti_hash: Buffer; expires_at: Date }>('SELECT jti_hash, expires_at FROM proof_replays');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.jti_hash.toString('latin1')).not.toContain(jti);
    expect(JSON.stringify(rows)).not.toContain(jti);
    // Kept for the library's acceptance window (5 minutes), no longer.
    const longest = Math.max(...rows.map((r) => r.expires_at.getTime() - Date.now()));
    expect(longest).toBeLessThanOrEqual(300_000 + 5_000);
    await gh.app.db.query("UPDATE proof_replays SET expires_at = now() - interval '1 second'");
    const { removeExpiredArtifacts } = await import('../../../src/artifacts/cleanup.js');
    await removeExpiredArtifacts(gh.app.db, [gh.app.services.artifacts, gh.app.services.replay]);
    expect(await gh.app.services.replay.count()).toBe(0);
  });

  describe('a public client with openid-client: code flow, refresh and userinfo', () => {
    let config: oidc.Configuration;
    let key: KeyPair;
    let thumbprint: string;
    let tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    let sub: string;
    const redirectUri = 'http://127.0.0.1:9/callback';

    beforeAll(async () => {
      const { clientId } = await gh.createClient({ type: 'public', name: 'SPA', redirectUris: [redirectUri], dpopBoundTokens: true });
      config = await oidc.discovery(new URL(gh.issuer), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      key = await oidc.randomDPoPKeyPair('ES256');
      ({ thumbprint } = await asProofKey(key));
      const user = await gh.createUser();
      sub = user.id;
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent', state: 's',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
      tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 's' }, undefined, { DPoP: oidc.getDPoPHandle(config, key) });
    });

    it('gets DPoP-bound access and refresh tokens and reads userinfo with the DPoP scheme', async () => {
      expect(tokens.token_type).toBe('dpop');
      const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, sub, { DPoP: oidc.getDPoPHandle(config, key) });
      expect(userinfo.sub).toBe(sub);
      const introspected = await oidc.tokenIntrospection(config, tokens.access_token);
      expect(introspected.cnf).toEqual({ jkt: thumbprint });
    });

    it('refuses the bound token sent as Bearer, with a DPoP challenge', async () => {
      const response = await fetch(`${gh.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(response.status).toBe(401);
      const challenge = response.headers.get('www-authenticate')!;
      expect(challenge).toMatch(/^DPoP /);
      expect(challenge).toContain('error="invalid_token"');
      expect(challenge).toContain('algs="ES256 PS256 EdDSA"');
    });

    it('refuses userinfo with a proof from another key, a replayed proof, or a proof for another token', async () => {
      const me = `${gh.issuer}/me`;
      const ours = await asProofKey(key);
      const other = await proofKey();
      const call = async (dpop: string) => {
        const response = await fetch(me, { headers: { authorization: `DPoP ${tokens.access_token}`, dpop } });
        return { status: response.status, challenge: response.headers.get('www-authenticate') ?? '', nonce: response.headers.get('dpop-nonce') };
      };
      // The first call learns the resource's nonce, as a client does (RFC 9449 §9).
      const first = await call(await proof(ours, { htm: 'GET', htu: me, accessToken: tokens.access_token }));
      expect(first.status).toBe(401);
      expect(first.challenge).toContain('error="use_dpop_nonce"');
      const nonce = first.nonce!;

      const wrongKey = await call(await proof(other, { htm: 'GET', htu: me, accessToken: tokens.access_token, nonce }));
      expect(wrongKey.status).toBe(401);
      expect(wrongKey.challenge).toMatch(/^DPoP .*error="invalid_token"/);

      const otherToken = await call(await proof(ours, { htm: 'GET', htu: me, accessToken: 'another-token', nonce }));
      expect(otherToken.status).toBe(401);
      expect(otherToken.challenge).toMatch(/^DPoP .*error="invalid_dpop_proof"/);

      const once = await proof(ours, { htm: 'GET', htu: me, accessToken: tokens.access_token, nonce });
      expect((await call(once)).status).toBe(200);
      const replay = await call(once);
      expect(replay.status).toBe(401);
      expect(replay.challenge).toMatch(/^DPoP .*error="invalid_dpop_proof"/);
    });

    it('binds the public client\'s refresh token to the same key: another key cannot use it', async () => {
      const thief = await oidc.randomDPoPKeyPair('ES256');
      await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: oidc.getDPoPHandle(config, thief) })).rejects.toMatchObject({ error: 'invalid_grant' });
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: oidc.getDPoPHandle(config, key) });
      expect(refreshed.token_type).toBe('dpop');
      expect((await oidc.tokenIntrospection(config, refreshed.access_token)).cnf).toEqual({ jkt: thumbprint });
    });
  });
});

describe('GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP=true', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP: 'true', GATEHOUSE_DPOP_REQUIRE_NONCE: 'false' } });
  });
  afterAll(() => gh?.close());

  it('refuses a public client\'s code exchange without a proof, and binds it with one', async () => {
    const redirectUri = 'http://127.0.0.1:9/callback';
    // An operator-made public client without the flag: the global option applies to it.
    const { clientId } = await gh.createClient({ type: 'public', name: 'Native app', redirectUris: [redirectUri] });
    const config = await oidc.discovery(new URL(gh.issuer), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const user = await gh.createUser();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', state: 's', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
    await expect(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 's' })).rejects.toMatchObject({ error: 'invalid_grant' });
    // The refused exchange did not consume the code: the same code with a proof succeeds, bound.
    const key = await oidc.randomDPoPKeyPair('ES256');
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 's' }, undefined, { DPoP: oidc.getDPoPHandle(config, key) });
    expect(tokens.token_type).toBe('dpop');
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).cnf).toEqual({ jkt: (await asProofKey(key)).thumbprint });
  });

  it('lets a public client register with dpop_bound_access_tokens and leaves confidential clients free', async () => {
    const { value: iat } = await gh.app.services.initialAccessTokens.create(operator, { expiresInSeconds: 600, maxUses: 2 });
    const response = await fetch(`${gh.issuer}/reg`, {
      method: 'POST',
      headers: { authorization: `Bearer ${iat}`, 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/cb'], application_type: 'native', token_endpoint_auth_method: 'none', dpop_bound_access_tokens: true }),
    });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(body)).toBe(201);
    expect(body.dpop_bound_access_tokens).toBe(true);
    const { clientId, clientSecret } = await gh.createClient({ type: 'service', name: 'worker' });
    const unbound = await tokenRequest(`${gh.issuer}/token`, { authorization: basic(clientId, clientSecret!) });
    expect(unbound.status).toBe(200);
    expect(unbound.body.token_type).toBe('Bearer');
  });
});
