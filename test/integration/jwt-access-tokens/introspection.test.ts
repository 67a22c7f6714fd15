/**
 * Introspection and revocation of JWT access tokens (RFC 9068) through
 * openid-client, as a resource server or the token's client would call them:
 * the claims of a live token, `active: false` for every way a token can be
 * wrong or stopped, who may ask, and default resources (a JWT without
 * `resource`).
 */
import { importJWK, SignJWT, decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { operator } from '../../../src/audit/events.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';

const api = 'https://api.example.test';
const other = 'https://other-api.example.test';
const redirectUri = 'https://rp.example.test/callback';

describe('JWT access tokens at the introspection and revocation endpoints', () => {
  let gh: TestGatehouse;
  const rps: Record<string, oidc.Configuration> = {};
  const ids: Record<string, string> = {};

  const service = async (name: string, access?: Parameters<TestGatehouse['app']['services']['clients']['setAccess']>[2]) => {
    const created = await gh.createClient({ type: 'service', name });
    if (access) await gh.app.services.clients.setAccess(operator, created.clientId, access);
    ids[name] = created.clientId;
    rps[name] = await oidc.discovery(new URL(gh.issuer), created.clientId, undefined, oidc.ClientSecretBasic(created.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    return rps[name]!;
  };
  const mint = async (rp: oidc.Configuration, params: Record<string, string> = { resource: api, scope: 'read' }) => (await oidc.clientCredentialsGrant(rp, params)).access_token;
  const introspect = (rp: oidc.Configuration, token: string) => oidc.tokenIntrospection(rp, token);

  beforeAll(async () => {
    gh = await startTestGatehouse();
    await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'Orders API', scopes: ['read', 'write'], accessTokenTtl: 300 });
    await gh.app.services.resources.add(operator, { rbac: false, audience: other, name: 'Other API', scopes: ['read'], accessTokenTtl: 300 });
    await service('worker');
    await service('bystander');
    await service('orders-api', { introspects: [api] });
    await service('other-api', { introspects: [other] });
    await service('gateway', { introspects: ['*'] });
    await service('defaulted', { defaultResource: api });
  });
  afterAll(() => gh?.close());

  it('describes a live JWT access token with its claims (RFC 7662 §2.2)', async () => {
    const token = await mint(rps.worker!);
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    const info = await introspect(rps.worker!, token);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(info).toMatchObject({
      active: true,
      scope: 'read',
      client_id: ids.worker,
      sub: ids.worker,
      aud: api,
      iss: gh.issuer,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: 'Bearer',
    });
    expect(info.cnf).toBeUndefined();
  });

  it('revokes it (RFC 7009): every later introspection says active: false', async () => {
    const token = await mint(rps.worker!);
    expect((await introspect(rps['orders-api']!, token)).active).toBe(true);
    await oidc.tokenRevocation(rps.worker!, token);
    expect(await introspect(rps.worker!, token)).toEqual({ active: false });
    expect(await introspect(rps['orders-api']!, token)).toEqual({ active: false });
    // Revoking twice is still a 200 (RFC 7009 §2.2) and still inactive.
    await oidc.tokenRevocation(rps.worker!, token);
    expect((await introspect(rps.worker!, token)).active).toBe(false);
    const rows = await gh.app.db.query<{ client_id: string }>('SELECT client_id FROM revoked_access_tokens');
    expect(rows.rows.map((r) => r.client_id)).toContain(ids.worker);
    // Another token of the same client is not affected.
    expect((await introspect(rps.worker!, await mint(rps.worker!))).active).toBe(true);
  });

  it('refuses to let another confidential client revoke it, and ignores nothing silently', async () => {
    const token = await mint(rps.worker!);
    await expect(oidc.tokenRevocation(rps.bystander!, token)).rejects.toMatchObject({ error: 'invalid_request' });
    expect((await introspect(rps.worker!, token)).active).toBe(true);
  });

  it('answers a tampered, foreign or malformed JWT with active: false and a 200', async () => {
    const token = await mint(rps.worker!);
    const [h, p, s] = token.split('.');
    const flipped = `${h}.${p}.${s!.slice(0, 8)}${s![8] === 'A' ? 'B' : 'A'}${s!.slice(9)}`;
    const widened = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'read write' })).toString('base64url')}.${s}`;
    for (const bad of [flipped, widened, `${h}.${p}.`, `${h}.e30.${s}`]) {
      expect(await introspect(rps.worker!, bad)).toEqual({ active: false });
      await oidc.tokenRevocation(rps.worker!, bad); // 200, nothing listed
    }
    expect((await introspect(rps.worker!, token)).active).toBe(true);
  });

  it('checks issuer, typ and expiry on tokens signed with its own key', async () => {
    const keys = await gh.app.services.keystore.load();
    const jwk = keys.jwks.keys.find((k) => k.alg === 'ES256' && !k.key_ops)!;
    const key = await importJWK(jwk, 'ES256');
    const now = Math.floor(Date.now() / 1000);
    const sign = (payload: Record<string, unknown>, typ = 'at+jwt') =>
      new SignJWT({ client_id: ids.worker, scope: 'read', jti: `t-${Math.random()}`, ...payload })
        .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ })
        .setIssuer(String(payload.iss ?? gh.issuer))
        .setSubject(ids.worker!)
        .setAudience(api)
        .setIssuedAt(now - 60)
        .setExpirationTime(Number(payload.exp ?? now + 300))
        .sign(key);
    // The control: the same recipe with every field right is active, so each refusal below is about one field.
    expect((await introspect(rps.worker!, await sign({}))).active).toBe(true);
    expect(await introspect(rps.worker!, await sign({ exp: now - 1 }))).toEqual({ active: false });
    expect(await introspect(rps.worker!, await sign({ iss: 'https://evil.example' }))).toEqual({ active: false });
    expect(await introspect(rps.worker!, await sign({}, 'JWT'))).toEqual({ active: false });
    // An ID-token-shaped JWT of ours is not an access token either.
    expect(await introspect(rps.worker!, await sign({}, 'id_token+jwt'))).toEqual({ active: false });
  });

  it('lets a resource server introspect the tokens of the audiences it was authorised for, and only those', async () => {
    const forApi = await mint(rps.worker!);
    const forOther = await mint(rps.worker!, { resource: other, scope: 'read' });
    expect((await introspect(rps['orders-api']!, forApi)).active).toBe(true);
    expect(await introspect(rps['orders-api']!, forOther)).toEqual({ active: false });
    expect((await introspect(rps['other-api']!, forOther)).active).toBe(true);
    expect(await introspect(rps['other-api']!, forApi)).toEqual({ active: false });
    expect(await introspect(rps.bystander!, forApi)).toEqual({ active: false });
    // The gateway sees every token, opaque ones included.
    expect((await introspect(rps.gateway!, forApi)).active).toBe(true);
    expect((await introspect(rps.gateway!, forOther)).active).toBe(true);
    const opaque = await mint(rps.worker!, { scope: '' });
    expect(opaque.split('.')).toHaveLength(1);
    expect((await introspect(rps.gateway!, opaque)).active).toBe(true);
    expect(await introspect(rps['orders-api']!, opaque)).toEqual({ active: false });
  });

  it('makes the tokens of a disabled client inactive, opaque and JWT, and enabling it does not bring them back', async () => {
    const rp = await service('to-disable');
    const jwt = await mint(rp);
    const opaque = await mint(rp, { scope: '' });
    await gh.app.services.clients.setDisabled(operator, ids['to-disable']!, true);
    expect(await introspect(rps.gateway!, jwt)).toEqual({ active: false });
    expect(await introspect(rps.gateway!, opaque)).toEqual({ active: false });
    expect(await introspect(rps['orders-api']!, jwt)).toEqual({ active: false });
    await gh.app.services.clients.setDisabled(operator, ids['to-disable']!, false);
    // Disabling revoked what the client held (issue 18): re-enabling it restores the client, not its old tokens.
    expect(await introspect(rps.gateway!, jwt)).toEqual({ active: false });
    expect(await introspect(rps.gateway!, opaque)).toEqual({ active: false });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await introspect(rps.gateway!, await mint(rp))).active).toBe(true);
  });

  it('keeps tokens signed by a retired key active and stops those of a revoked key', async () => {
    const token = await mint(rps.worker!);
    const kid = decodeProtectedHeader(token).kid!;
    await gh.app.services.keystore.rotate(operator, { alg: 'ES256', immediate: true });
    await gh.app.keys.refresh('test');
    expect(decodeProtectedHeader(await mint(rps.worker!)).kid).not.toBe(kid);
    expect((await gh.app.services.keystore.list()).find((k) => k.kid === kid)?.state).toBe('retired');
    expect((await introspect(rps.worker!, token)).active).toBe(true);
    await gh.app.services.keystore.revoke(operator, kid);
    await gh.app.keys.refresh('test');
    expect(await introspect(rps.worker!, token)).toEqual({ active: false });
  });

  it('gives a client bound to a default resource a JWT for it when it names none (RFC 8707 §2)', async () => {
    const token = await mint(rps.defaulted!, { scope: 'read write admin' });
    const info = await introspect(rps.defaulted!, token);
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    expect(info).toMatchObject({ active: true, aud: api, scope: 'read write', client_id: ids.defaulted });
    // A request that names a resource still gets that one; one without a default still gets an opaque token.
    const named = await mint(rps.defaulted!, { resource: other, scope: 'read' });
    expect((await introspect(rps.defaulted!, named)).aud).toBe(other);
    expect((await mint(rps.worker!, { scope: 'read' })).split('.')).toHaveLength(1);
  });

  describe("a user's JWT access token from the authorization-code flow", () => {
    let user: { id: string; username: string; password: string };
    let web: oidc.Configuration;

    beforeAll(async () => {
      user = await gh.createUser();
      const created = await gh.createClient({ type: 'confidential', name: 'Web app', redirectUris: [redirectUri] });
      // Bound to the API: the authorization request below names no resource.
      await gh.app.services.clients.setAccess(operator, created.clientId, { defaultResource: api });
      web = await oidc.discovery(new URL(gh.issuer), created.clientId, undefined, oidc.ClientSecretBasic(created.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    });

    const signIn = async () => {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(web, { redirect_uri: redirectUri, scope: 'openid read', state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
      const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
      return oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier, expectedState: state });
    };

    it('is a JWT for the default resource, introspected with the user as subject', async () => {
      const tokens = await signIn();
      expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
      const info = await introspect(rps['orders-api']!, tokens.access_token);
      expect(info).toMatchObject({ active: true, sub: user.id, aud: api, scope: 'read', client_id: web.clientMetadata().client_id });
    });

    it('is inactive while the user is disabled', async () => {
      const tokens = await signIn();
      await gh.app.services.accounts.setDisabled(operator, user.id, true);
      expect(await introspect(rps['orders-api']!, tokens.access_token)).toEqual({ active: false });
      expect(await introspect(web, tokens.access_token)).toEqual({ active: false });
      await gh.app.services.accounts.setDisabled(operator, user.id, false);
      // Disabling ended its sessions and tokens (issue 18): enabling the account does not bring them back.
      expect(await introspect(web, tokens.access_token)).toEqual({ active: false });
    });
  });
});
