/**
 * DESIGN invariant 1: a dump of the database yields no usable credential.
 * Runs real flows, collects every credential they produced, and searches a
 * full dump for each, raw and in the encodings a leak would take.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { dumpDatabase } from '../../support/dump.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { operator } from '../../../src/audit/events.js';

const redirectUri = 'https://rp.example.test/cb';

describe('nothing usable at rest', () => {
  let gh: TestGatehouse;
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    gh = await startTestGatehouse();
    await gh.app.services.resources.add(operator, { rbac: false, audience: 'https://opaque.example.test', name: 'Opaque API', scopes: ['x'], accessTokenTtl: 300, tokenFormat: 'opaque' });
    const user = await gh.createUser();
    secrets.set('user password', user.password);

    const service = await gh.createClient({ type: 'service', name: 'svc' });
    secrets.set('service client secret', service.clientSecret!);
    const svc = await oidc.discovery(new URL(gh.issuer), service.clientId, undefined, oidc.ClientSecretPost(service.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    secrets.set('client credentials token', (await oidc.clientCredentialsGrant(svc, { scope: '' })).access_token);
    secrets.set('client credentials opaque resource token', (await oidc.clientCredentialsGrant(svc, { resource: 'https://opaque.example.test', scope: 'x' })).access_token);

    const web = await gh.createClient({ type: 'confidential', name: 'web', redirectUris: [redirectUri] });
    secrets.set('web client secret', web.clientSecret!);
    const rp = await oidc.discovery(new URL(gh.issuer), web.clientId, undefined, oidc.ClientSecretBasic(web.clientSecret!), { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const agent = new UserAgent();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st' });
    const callback = new URL(await signInThroughPages(agent, gh.issuer, url.href, user));
    secrets.set('authorization code', callback.searchParams.get('code')!);
    for (const [name, value] of agent.cookies) if (!name.endsWith('.sig')) secrets.set(`cookie ${name}`, value);
    // A second authorization while signed in, left at its consent page: the pending interaction
    // row copies the session, whose id is the `_session` cookie (issue 22 item 7).
    const pending = await agent.follow(oidc.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', prompt: 'consent', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st2' }).href, gh.issuer);
    expect(pending.url).toMatch(/\/interaction\//);
    const { rows: interactions } = await gh.app.db.query<{ payload: { session?: { cookie?: string } } }>("SELECT payload FROM oidc_models WHERE model = 'Interaction'");
    expect(interactions.some((row) => row.payload.session?.cookie !== undefined)).toBe(true);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedState: 'st' });
    secrets.set('user access token', tokens.access_token);
    secrets.set('refresh token', tokens.refresh_token!);
    const rotated = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    secrets.set('second access token', rotated.access_token);
    if (rotated.refresh_token) secrets.set('second refresh token', rotated.refresh_token);
  });
  afterAll(() => gh?.close());

  it('produced the credentials it is about to look for', () => {
    expect(secrets.size).toBeGreaterThanOrEqual(10);
    expect(secrets.has('cookie _session')).toBe(true);
    for (const value of secrets.values()) expect(value.length).toBeGreaterThanOrEqual(16);
  });

  it('finds none of them in a dump of every table, raw, base64 or hex', async () => {
    const dump = await dumpDatabase(gh.app.db);
    expect(dump.length).toBeGreaterThan(1000);
    for (const [name, value] of secrets) {
      for (const form of [value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('hex')]) {
        expect(dump.includes(form), `${name} found in the database`).toBe(false);
      }
    }
  });

  it('holds no private key material in clear', async () => {
    const { rows } = await gh.app.db.query<{ public_jwk: Record<string, unknown>; private_ciphertext: string }>('SELECT public_jwk, private_ciphertext FROM signing_keys');
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(row.public_jwk).not.toHaveProperty(member);
      expect(row.private_ciphertext).toMatch(/^v1\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(row.private_ciphertext).not.toMatch(/"d"/);
    }
    const dump = await dumpDatabase(gh.app.db);
    expect(dump).not.toMatch(/"d"\s*:/);
  });

  it('stores passwords as argon2id hashes with the configured cost', async () => {
    const { rows } = await gh.app.db.query<{ password_hash: string }>('SELECT password_hash FROM accounts');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      const params = /^\$argon2id\$v=19\$([^$]+)\$/.exec(row.password_hash)?.[1]?.split(',').sort();
      expect(params).toEqual(['m=7168', 'p=1', 't=5']);
    }
  });
});
