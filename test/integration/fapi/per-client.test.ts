/**
 * The FAPI 2.0 profile for one client (`security_profile: "fapi2"`, CLI
 * `--profile fapi2`) while the rest of the installation stays standard: the
 * profile's rules bind that client only.
 */
import { calculateJwkThumbprint, exportJWK } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { clientAssertion, discover, parLogin, redirectUri, retryingNonce, signingKey } from './helpers.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('a FAPI 2.0 client on a standard installation', () => {
  let gh: TestGatehouse;
  let as: oauth.AuthorizationServer;
  let fapi: { client: oauth.Client; key: Awaited<ReturnType<typeof signingKey>>; rsa: Awaited<ReturnType<typeof signingKey>> };
  let other: oauth.Client;
  let user: { id: string; username: string; password: string };

  beforeAll(async () => {
    // Codes live five minutes here; the FAPI client's still live at most 60 s.
    gh = await startTestGatehouse({ env: { GATEHOUSE_AUTHORIZATION_CODE_TTL: '5m' } });
    as = await discover(gh.issuer);
    user = await gh.createUser();
    const key = await signingKey('ES256');
    const rsa = await signingKey('RS256');
    const made = await gh.createClient({
      type: 'confidential', name: 'FAPI app', redirectUris: [redirectUri], authMethod: 'private_key_jwt', jwks: { keys: [key.jwk, rsa.jwk] as never }, securityProfile: 'fapi2',
    });
    fapi = { client: { client_id: made.clientId }, key, rsa };
    const plain = await gh.createClient({ type: 'confidential', name: 'Plain app', redirectUris: [redirectUri] });
    other = { client_id: plain.clientId };
  });
  afterAll(() => gh?.close());

  const frontChannel = (clientId: string) =>
    fetch(`${gh.issuer}/auth?${new URLSearchParams({
      client_id: clientId, response_type: 'code', redirect_uri: redirectUri, scope: 'openid', state: 's',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    })}`, { redirect: 'manual' });

  it('requires PAR from the FAPI client only', async () => {
    const refused = new URL((await frontChannel(fapi.client.client_id)).headers.get('location')!, gh.issuer);
    expect(refused.searchParams.get('error')).toBe('invalid_request');
    const allowed = new URL((await frontChannel(other.client_id)).headers.get('location')!, gh.issuer);
    expect(allowed.pathname).toMatch(/^\/interaction\//);
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery.token_endpoint_auth_methods_supported).toContain('client_secret_basic');
    expect(discovery.require_pushed_authorization_requests).toBeUndefined();
  });

  it('requires a DPoP proof at the token endpoint, caps the code at 60 s, and binds the tokens', async () => {
    const auth = oauth.PrivateKeyJwt(fapi.key.keys.privateKey);
    const login = await parLogin(as, fapi.client, auth, user);
    const params = oauth.validateAuthResponse(as, fapi.client, login.callback, login.state);
    const { rows } = await gh.app.db.query<{ seconds: number }>("SELECT extract(epoch FROM expires_at - now())::int AS seconds FROM oidc_models WHERE model = 'AuthorizationCode'");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.seconds).toBeLessThanOrEqual(60);

    // An unbound token where binding is required: the exchange without a proof is refused.
    const unbound = await oauth.authorizationCodeGrantRequest(as, fapi.client, auth, params, redirectUri, login.verifier, insecure);
    expect(unbound.status).toBe(400);
    expect(((await unbound.json()) as { error: string }).error).toBe('invalid_grant');

    const dpopKeys = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(fapi.client, dpopKeys);
    const tokens = await retryingNonce(
      () => oauth.authorizationCodeGrantRequest(as, fapi.client, auth, params, redirectUri, login.verifier, { DPoP, ...insecure }),
      (response) => oauth.processAuthorizationCodeResponse(as, fapi.client, response),
    );
    expect(tokens.token_type).toBe('dpop');
    const introspection = await oauth.processIntrospectionResponse(as, fapi.client, await oauth.introspectionRequest(as, fapi.client, auth, tokens.access_token, insecure));
    expect(introspection.cnf).toEqual({ jkt: await calculateJwkThumbprint(await exportJWK(dpopKeys.publicKey)) });
  });

  it('refuses the FAPI client an RS256 client assertion the library would otherwise accept', async () => {
    const post = (assertion: string) =>
      fetch(`${gh.issuer}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: 'x', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
      });
    const rs256 = await post(await clientAssertion(fapi.client.client_id, gh.issuer, fapi.rsa, 'RS256'));
    expect(rs256.status).toBe(401);
    expect(((await rs256.json()) as { error: string }).error).toBe('invalid_client');
    const es256 = await post(await clientAssertion(fapi.client.client_id, gh.issuer, fapi.key, 'ES256'));
    expect(es256.status).toBe(200);
  });
});
