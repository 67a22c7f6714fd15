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

  async function codeTokens(who: { username: string; password: string }, scope = 'openid offline_access orders:read orders:write') {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(web, {
      redirect_uri: redirectUri, scope, resource: api, prompt: 'consent', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, who));
    return oidc.authorizationCodeGrant(web, callback, { pkceCodeVerifier: verifier, expectedState: state }, { resource: api });
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
});
