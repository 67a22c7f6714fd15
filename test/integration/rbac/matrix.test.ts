/**
 * Issue 15's matrix: authorization code, refresh and client credentials for a
 * resource server with RBAC on. Without the permission the scope never comes
 * out; with it (directly or through a group) it does; after removal the next
 * refresh lacks it. Real openid-client against a real Gatehouse.
 */
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { operator } from '../../../src/audit/events.js';

const redirectUri = 'https://rp.example.test/callback';
const api = 'https://orders.example.test';
const strict = 'https://ledger.example.test';

describe('RBAC at issuance', () => {
  let gh: TestGatehouse;
  let web: oidc.Configuration;
  let worker: { clientId: string; clientSecret: string | undefined };
  let service: oidc.Configuration;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    const { resources, rbac } = gh.app.services;
    await resources.add(operator, { audience: api, name: 'Orders', scopes: ['orders:read', 'orders:write'], accessTokenTtl: 300 });
    await resources.add(operator, { audience: strict, name: 'Ledger', scopes: ['ledger:read'], accessTokenTtl: 300, unheldScopes: 'refuse' });
    await rbac.createRole(operator, { name: 'orders-reader', permissions: [{ audience: api, scope: 'orders:read' }] });
    await rbac.createRole(operator, { name: 'orders-writer', permissions: [{ audience: api, scope: 'orders:write' }] });
    await rbac.createRole(operator, { name: 'ledger-reader', permissions: [{ audience: strict, scope: 'ledger:read' }] });
    const client = await gh.createClient({ type: 'confidential', name: 'Web', redirectUris: [redirectUri], firstParty: true });
    web = await oidc.discovery(new URL(gh.issuer), client.clientId, undefined, oidc.ClientSecretBasic(client.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    worker = await gh.createClient({ type: 'service', name: 'Worker' });
    service = await oidc.discovery(new URL(gh.issuer), worker.clientId, undefined, oidc.ClientSecretBasic(worker.clientSecret!), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => gh?.close());

  async function codeTokens(who: { username: string; password: string }, scope = 'openid offline_access orders:read orders:write', resource: string | null = api) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(web, {
      redirect_uri: redirectUri, scope, ...(resource ? { resource } : {}), prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, who));
    return oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier, expectedState: state }, resource ? { resource } : undefined);
  }
  const scopeOf = (token: string) => String(decodeJwt(token).scope ?? '').split(' ').filter(Boolean).sort();

  it('code: a user without a permission never gets its scope', async () => {
    const user = await gh.createUser();
    const tokens = await codeTokens(user);
    expect(scopeOf(tokens.access_token)).toEqual([]);
    const refreshed = await oidc.refreshTokenGrant(web, tokens.refresh_token!, { resource: api });
    expect(scopeOf(refreshed.access_token)).toEqual([]);
  });

  it('code and refresh: a direct role grants its scope; after removal the next refresh lacks it', async () => {
    const user = await gh.createUser();
    await gh.app.services.rbac.assign(operator, 'orders-reader', { kind: 'user', id: user.id });
    const tokens = await codeTokens(user);
    expect(scopeOf(tokens.access_token)).toEqual(['orders:read']);
    const again = await oidc.refreshTokenGrant(web, tokens.refresh_token!, { resource: api });
    expect(scopeOf(again.access_token)).toEqual(['orders:read']);
    await gh.app.services.rbac.unassign(operator, 'orders-reader', { kind: 'user', id: user.id });
    const after = await oidc.refreshTokenGrant(web, again.refresh_token!, { resource: api });
    expect(scopeOf(after.access_token)).toEqual([]);
  });

  it('code and refresh: a role through a group grants its scope; leaving the group removes it', async () => {
    const { rbac } = gh.app.services;
    const user = await gh.createUser();
    await rbac.createGroup(operator, { name: 'writers' });
    await rbac.assign(operator, 'orders-writer', { kind: 'group', id: 'writers' });
    await rbac.addMember(operator, 'writers', user.id);
    const tokens = await codeTokens(user);
    expect(scopeOf(tokens.access_token)).toEqual(['orders:write']);
    await rbac.removeMember(operator, 'writers', user.id);
    const after = await oidc.refreshTokenGrant(web, tokens.refresh_token!, { resource: api });
    expect(scopeOf(after.access_token)).toEqual([]);
    expect((await rbac.effective({ kind: 'user', id: user.id })).permissions).toEqual([]);
  });

  it('client credentials: the client\'s own assignments decide, with drop and refuse', async () => {
    const { rbac } = gh.app.services;
    expect((await oidc.clientCredentialsGrant(service, { resource: api, scope: 'orders:read orders:write' })).scope ?? '').toBe('');
    await expect(oidc.clientCredentialsGrant(service, { resource: strict, scope: 'ledger:read' })).rejects.toMatchObject({ error: 'invalid_scope' });
    await rbac.assign(operator, 'orders-reader', { kind: 'client', id: worker.clientId });
    await rbac.assign(operator, 'ledger-reader', { kind: 'client', id: worker.clientId });
    expect((await oidc.clientCredentialsGrant(service, { resource: api, scope: 'orders:read orders:write' })).scope).toBe('orders:read');
    expect((await oidc.clientCredentialsGrant(service, { resource: strict, scope: 'ledger:read' })).scope).toBe('ledger:read');
    await rbac.unassign(operator, 'ledger-reader', { kind: 'client', id: worker.clientId });
    await expect(oidc.clientCredentialsGrant(service, { resource: strict, scope: 'ledger:read' })).rejects.toMatchObject({ error: 'invalid_scope' });
  });

  it('a resource server with RBAC off keeps granting what the client asks (the path for servers from before the migration)', async () => {
    const legacy = 'https://legacy.example.test';
    await gh.app.services.resources.add(operator, { audience: legacy, name: 'Legacy', scopes: ['x'], accessTokenTtl: 300, rbac: false });
    expect((await oidc.clientCredentialsGrant(service, { resource: legacy, scope: 'x' })).scope).toBe('x');
    await gh.app.services.resources.setAccessControl(operator, legacy, { rbac: true });
    expect((await oidc.clientCredentialsGrant(service, { resource: legacy, scope: 'x' })).scope ?? '').toBe('');
  });

  it('refuses a role naming an unknown audience or scope, and changes to built-in roles', async () => {
    const { rbac } = gh.app.services;
    await expect(rbac.createRole(operator, { name: 'bad', permissions: [{ audience: 'https://nowhere.example.test', scope: 'x' }] })).rejects.toThrow(/no resource server/);
    await expect(rbac.createRole(operator, { name: 'bad', permissions: [{ audience: api, scope: 'orders:delete' }] })).rejects.toThrow(/no scope orders:delete/);
    await expect(rbac.updateRole(operator, 'auditor', { permissions: [] })).rejects.toThrow(/built-in/);
    await expect(rbac.removeRole(operator, 'administrator')).rejects.toThrow(/built-in/);
    await expect(rbac.assign(operator, 'orders-reader', { kind: 'user', id: 'no-such-user' })).rejects.toThrow(/no such user/);
  });

  describe('the roles scope (ID token and userinfo)', () => {
    it('carries the names of the user\'s roles, direct and through groups, only when the client asks for it', async () => {
      const { rbac } = gh.app.services;
      const user = await gh.createUser();
      await rbac.assign(operator, 'orders-reader', { kind: 'user', id: user.id });
      await rbac.createGroup(operator, { name: 'ledger-team' });
      await rbac.assign(operator, 'ledger-reader', { kind: 'group', id: 'ledger-team' });
      await rbac.addMember(operator, 'ledger-team', user.id);

      // With an access token for userinfo, scope claims come from userinfo (OIDC Core §5.4; the library's conformIdTokenClaims).
      const tokens = await codeTokens(user, 'openid roles', null);
      const info = await oidc.fetchUserInfo(web, tokens.access_token, user.id);
      expect(info.roles).toEqual(['ledger-reader', 'orders-reader']);
      // With the access token for an API, the ID token carries them.
      const forApi = await codeTokens(user, 'openid roles orders:read', api);
      expect(forApi.claims()?.roles).toEqual(['ledger-reader', 'orders-reader']);

      const without = await codeTokens(user, 'openid profile', null);
      expect(without.claims()?.roles).toBeUndefined();
      expect((await codeTokens(user, 'openid orders:read', api)).claims()?.roles).toBeUndefined();
      expect((await oidc.fetchUserInfo(web, without.access_token, user.id)).roles).toBeUndefined();

      // A user without roles gets an empty list, not an absent claim that a client might read as "unknown".
      const nobody = await gh.createUser();
      expect((await codeTokens(nobody, 'openid roles orders:read', api)).claims()?.roles).toEqual([]);
      // The next userinfo call sees a role taken away.
      await rbac.unassign(operator, 'orders-reader', { kind: 'user', id: user.id });
      expect((await oidc.fetchUserInfo(web, tokens.access_token, user.id)).roles).toEqual(['ledger-reader']);
    });
  });

  describe('token exchange (RFC 8693) to a resource server with RBAC on', () => {
    const upstream = 'https://upstream.example.test';
    const grant = 'urn:ietf:params:oauth:grant-type:token-exchange';
    let gateway: { clientId: string; clientSecret: string | undefined };
    let caller: { clientId: string; clientSecret: string | undefined };

    const post = (c: { clientId: string; clientSecret: string | undefined }, body: Record<string, string>) =>
      fetch(`${gh.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body),
      });
    const exchange = async (subjectToken: string, scope?: string) => {
      const response = await post(gateway, {
        grant_type: grant, subject_token: subjectToken, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', audience: api, ...(scope ? { scope } : {}),
      });
      return { status: response.status, body: (await response.json()) as { error?: string; scope?: string; access_token?: string } };
    };

    beforeAll(async () => {
      const { resources, clients, exchangePolicies } = gh.app.services;
      // The subject tokens come from an API without RBAC, with the same scope names: the exchange narrows to what the subject holds at the target.
      await resources.add(operator, { audience: upstream, name: 'Upstream', scopes: ['orders:read', 'orders:write'], accessTokenTtl: 300, rbac: false });
      gateway = await gh.createClient({ type: 'service', name: 'Gateway' });
      caller = await gh.createClient({ type: 'service', name: 'Caller' });
      await clients.setAccess(operator, gateway.clientId, { introspects: [upstream] });
      await exchangePolicies.set(operator, gateway.clientId, { audiences: [api], maxLifetimeSeconds: 120, mayImpersonate: true });
    });

    it('a client subject gets only the scopes its own roles hold at the target', async () => {
      const { rbac } = gh.app.services;
      const cc = async () => ((await (await post(caller, { grant_type: 'client_credentials', resource: upstream, scope: 'orders:read orders:write' })).json()) as { access_token: string }).access_token;
      const subject = await cc();
      expect(await exchange(subject, 'orders:read')).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
      const none = await exchange(subject);
      expect(none.status).toBe(200);
      expect(none.body.scope).toBeUndefined();

      await rbac.assign(operator, 'orders-reader', { kind: 'client', id: caller.clientId });
      const granted = await exchange(subject, 'orders:read');
      expect(granted.status).toBe(200);
      expect(granted.body.scope).toBe('orders:read');
      expect(decodeJwt(granted.body.access_token!)).toMatchObject({ sub: caller.clientId, aud: api, scope: 'orders:read' });
      // The subject token holds orders:write, the subject's roles do not: still refused, and without scope only the held one comes out.
      expect(await exchange(subject, 'orders:read orders:write')).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
      expect((await exchange(subject)).body.scope).toBe('orders:read');
      // The calling client's own roles do not count: the gateway holding orders-writer gives the subject nothing more.
      await rbac.assign(operator, 'orders-writer', { kind: 'client', id: gateway.clientId });
      expect((await exchange(subject)).body.scope).toBe('orders:read');
      await rbac.unassign(operator, 'orders-reader', { kind: 'client', id: caller.clientId });
      expect(await exchange(subject, 'orders:read')).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    });

    it('a user subject gets only what the user holds at the target, groups included', async () => {
      const { rbac } = gh.app.services;
      const user = await gh.createUser();
      const tokens = await codeTokens(user, 'openid orders:read orders:write', upstream);
      expect(scopeOf(tokens.access_token)).toEqual(['orders:read', 'orders:write']);
      expect(await exchange(tokens.access_token, 'orders:write')).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
      await rbac.createGroup(operator, { name: 'exchange-writers' });
      await rbac.assign(operator, 'orders-writer', { kind: 'group', id: 'exchange-writers' });
      await rbac.addMember(operator, 'exchange-writers', user.id);
      const granted = await exchange(tokens.access_token, 'orders:write');
      expect(granted.status).toBe(200);
      expect(decodeJwt(granted.body.access_token!)).toMatchObject({ sub: user.id, aud: api, scope: 'orders:write' });
    });
  });
});
