/**
 * The FAPI 2.0 Security Profile, for every client (GATEHOUSE_PROFILE=fapi2),
 * proven with oauth4webapi, a certified FAPI 2.0 client: PAR + DPoP +
 * private_key_jwt and PAR + mTLS end to end (code, refresh, userinfo,
 * introspection), and each thing the profile forbids refused.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { decodeJwt, exportJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';

import { issueCertificate, type IssuedCertificate } from '../../../src/tls/pki.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { clientAssertion, discover, parLogin, redirectUri, retryingNonce, signingKey } from './helpers.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('GATEHOUSE_PROFILE=fapi2', () => {
  let gh: TestGatehouse;
  let as: oauth.AuthorizationServer;
  let user: { id: string; username: string; password: string };
  let jwtClient: { client: oauth.Client; key: Awaited<ReturnType<typeof signingKey>>; rsa: Awaited<ReturnType<typeof signingKey>> };
  let mtlsClient: { client: oauth.Client; cert: IssuedCertificate };
  let secretClient: { clientId: string; clientSecret: string };
  let devCa: string;

  beforeAll(async () => {
    gh = await startTestGatehouse({ env: { GATEHOUSE_PROFILE: 'fapi2', GATEHOUSE_MTLS_PORT: '0' } });
    devCa = await readFile(path.join(gh.database.dataDir, 'tls', 'dev-ca.pem'), 'utf8');
    as = await discover(gh.issuer);
    user = await gh.createUser();
    const key = await signingKey('ES256');
    const rsa = await signingKey('RS256');
    const made = await gh.createClient({ type: 'confidential', name: 'FAPI app', redirectUris: [redirectUri], authMethod: 'private_key_jwt', jwks: { keys: [key.jwk, rsa.jwk] as never } });
    jwtClient = { client: { client_id: made.clientId }, key, rsa };
    const cert = await issueCertificate({ subject: 'CN=fapi-mtls-app', usage: 'client' });
    const mtls = await gh.createClient({ type: 'confidential', name: 'FAPI mTLS app', redirectUris: [redirectUri], authMethod: 'self_signed_tls_client_auth', certificatePem: cert.certificatePem });
    mtlsClient = { client: { client_id: mtls.clientId, use_mtls_endpoint_aliases: true }, cert };
    const secret = await gh.createClient({ type: 'confidential', name: 'Secret app', redirectUris: [redirectUri] });
    secretClient = { clientId: secret.clientId, clientSecret: secret.clientSecret! };
  });
  afterAll(() => gh?.close());

  it('advertises only what the profile allows', async () => {
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.token_endpoint_auth_methods_supported).toEqual(['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth']);
    expect(discovery.require_pushed_authorization_requests).toBe(true);
    expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
    expect(discovery.authorization_response_iss_parameter_supported).toBe(true);
    expect(discovery.dpop_signing_alg_values_supported).toEqual(['ES256', 'PS256', 'EdDSA']);
    expect(discovery.response_types_supported).toEqual(['code']);
    for (const [field, value] of Object.entries(discovery)) {
      if (!field.endsWith('_signing_alg_values_supported')) continue;
      for (const alg of value as string[]) expect(['PS256', 'ES256', 'EdDSA'], `${field}: ${alg}`).toContain(alg);
    }
    // RFC 8414 metadata is the same document, so an OAuth-only client sees the same limits.
    expect(await (await fetch(`${gh.issuer}/.well-known/oauth-authorization-server`)).json()).toEqual(discovery);
  });

  it('PAR + DPoP + private_key_jwt: code, userinfo, introspection and refresh, with oauth4webapi', async () => {
    const { client, key } = jwtClient;
    const auth = oauth.PrivateKeyJwt(key.keys.privateKey);
    const dpopKeys = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, dpopKeys);
    const jkt = await (await import('jose')).calculateJwkThumbprint(await exportJWK(dpopKeys.publicKey));

    const login = await parLogin(as, client, auth, user, { DPoP });
    // RFC 9207: the authorization response names its issuer.
    expect(login.callback.searchParams.get('iss')).toBe(gh.issuer);
    const params = oauth.validateAuthResponse(as, client, login.callback, login.state);
    const tokens = await retryingNonce(
      () => oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectUri, login.verifier, { DPoP, ...insecure }),
      (response) => oauth.processAuthorizationCodeResponse(as, client, response, { requireIdToken: true }),
    );
    expect(tokens.token_type).toBe('dpop');
    expect(oauth.getValidatedIdTokenClaims(tokens)!.sub).toBe(user.id);
    expect(decodeJwt(tokens.id_token!).iss).toBe(gh.issuer);

    const userinfo = await retryingNonce(
      () => oauth.userInfoRequest(as, client, tokens.access_token, { DPoP, ...insecure }),
      (response) => oauth.processUserInfoResponse(as, client, user.id, response),
    );
    expect(userinfo.sub).toBe(user.id);

    const introspection = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure));
    expect(introspection).toMatchObject({ active: true, cnf: { jkt } });

    // No rotation under the profile: the refresh token keeps working after use, and each access token stays bound.
    for (let i = 0; i < 2; i += 1) {
      const refreshed = await retryingNonce(
        () => oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token!, { DPoP, ...insecure }),
        (response) => oauth.processRefreshTokenResponse(as, client, response),
      );
      expect(refreshed.token_type).toBe('dpop');
      expect(refreshed.refresh_token ?? tokens.refresh_token).toBe(tokens.refresh_token);
      const again = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, refreshed.access_token, insecure));
      expect(again.cnf).toEqual({ jkt });
    }

    // The code lived at most 60 s (the profile's limit): its own exp - iat, as stored (the row's
    // expires_at is stamped when the row is written, a moment after iat on a loaded machine).
    const { rows } = await gh.app.db.query<{ lifetime: number }>(
      "SELECT ((payload->>'exp')::int - (payload->>'iat')::int) AS lifetime FROM oidc_models WHERE model = 'AuthorizationCode'",
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.lifetime).toBeLessThanOrEqual(60);
  });

  it('PAR + mTLS: certificate-bound tokens on the mTLS aliases, with oauth4webapi', async () => {
    const { client, cert } = mtlsClient;
    const dispatcher = new Agent({ connect: { ca: devCa, cert: cert.certificatePem, key: cert.privateKeyPem } });
    const viaCert = ((url: string, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch;
    const options = { [oauth.customFetch]: viaCert, ...insecure };
    const auth = oauth.TlsClientAuth();
    const login = await parLogin(as, client, auth, user, options);
    const params = oauth.validateAuthResponse(as, client, login.callback, login.state);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectUri, login.verifier, options));
    expect(tokens.token_type).toBe('bearer');
    const thumbprint = createHash('sha256').update(new X509Certificate(cert.certificatePem).raw).digest('base64url');
    const introspection = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, options));
    expect(introspection.cnf).toEqual({ 'x5t#S256': thumbprint });
    const userinfo = await oauth.processUserInfoResponse(as, client, user.id, await oauth.userInfoRequest(as, client, tokens.access_token, options));
    expect(userinfo.sub).toBe(user.id);
    // Without the certificate the bound token is refused.
    const plain = await fetch(`${gh.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(plain.status).toBe(401);
  });

  it('refuses an authorization request that did not go through PAR', async () => {
    const response = await fetch(`${gh.issuer}/auth?${new URLSearchParams({
      client_id: jwtClient.client.client_id, response_type: 'code', redirect_uri: redirectUri, scope: 'openid', state: 's',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    })}`, { redirect: 'manual' });
    const location = new URL(response.headers.get('location')!, gh.issuer);
    expect(location.href.startsWith(redirectUri)).toBe(true);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/pushed authorization request/i);
  });

  it('refuses plain PKCE and a missing code challenge at PAR', async () => {
    const { client, key } = jwtClient;
    const auth = oauth.PrivateKeyJwt(key.keys.privateKey);
    const cases: Array<Record<string, string>> = [{ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }, {}];
    for (const extra of cases) {
      const response = await oauth.pushedAuthorizationRequest(as, client, auth, { response_type: 'code', redirect_uri: redirectUri, scope: 'openid', ...extra }, insecure);
      expect(response.status, JSON.stringify(extra)).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
    }
  });

  it('refuses client_secret_basic, an RS256 client assertion, and an assertion for another audience', async () => {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x' }).toString();
    const post = (headers: Record<string, string>, form = body) => fetch(`${gh.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form });
    const basic = await post({ authorization: `Basic ${Buffer.from(`${secretClient.clientId}:${secretClient.clientSecret}`).toString('base64')}` });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as { error: string }).error).toBe('invalid_client');

    const { client, key, rsa } = jwtClient;
    for (const [name, assertion] of [
      ['RS256', await clientAssertion(client.client_id, gh.issuer, rsa, 'RS256')],
      ['token endpoint as audience', await clientAssertion(client.client_id, `${gh.issuer}/token`, key, 'ES256')],
    ] as const) {
      const response = await post({}, `${body}&${new URLSearchParams({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion })}`);
      expect(response.status, name).toBe(401);
      expect(((await response.json()) as { error: string }).error, name).toBe('invalid_client');
    }
  });

  it('refuses tokens for a resource server that signs with RS256', async () => {
    await gh.app.services.resources.add(operator, { rbac: false, audience: 'https://rs256.example.test', name: 'Legacy API', scopes: ['read'], accessTokenTtl: 300, signingAlg: 'RS256' });
    await gh.app.services.resources.add(operator, { rbac: false, audience: 'https://es256.example.test', name: 'API', scopes: ['read'], accessTokenTtl: 300, signingAlg: 'ES256' });
    const { client, key } = jwtClient;
    const par = (resource: string) => oauth.pushedAuthorizationRequest(as, client, oauth.PrivateKeyJwt(key.keys.privateKey), {
      response_type: 'code', redirect_uri: redirectUri, scope: 'openid read', resource,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    }, insecure);
    const refused = await par('https://rs256.example.test');
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_target');
    expect((await par('https://es256.example.test')).status).toBe(201);
  });

  it('refuses a registration that breaks the profile', async () => {
    const { value: iat } = await gh.app.services.initialAccessTokens.create(operator, { expiresInSeconds: 600, maxUses: 5 });
    const register = (metadata: Record<string, unknown>) =>
      fetch(`${gh.issuer}/reg`, { method: 'POST', headers: { authorization: `Bearer ${iat}`, 'content-type': 'application/json' }, body: JSON.stringify({ redirect_uris: [redirectUri], ...metadata }) });
    for (const metadata of [
      { token_endpoint_auth_method: 'client_secret_basic' },
      { token_endpoint_auth_method: 'none' },
      { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwtClient.key.jwk] }, id_token_signed_response_alg: 'RS256' },
    ]) {
      const response = await register(metadata);
      expect(response.status, JSON.stringify(metadata)).toBe(400);
      expect(((await response.json()) as { error: string }).error, JSON.stringify(metadata)).toBe('invalid_client_metadata');
    }
  });
});
