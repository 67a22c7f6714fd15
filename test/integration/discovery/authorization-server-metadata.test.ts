/**
 * RFC 8414 authorization server metadata (issue 23): the document at
 * /.well-known/oauth-authorization-server is the OpenID discovery document,
 * and for an issuer with a path it is also at the path-inserted location
 * (§3.1), found there by oauth4webapi's own `oauth2` discovery, which checks
 * that `issuer` matches (§3.3).
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

const insecure = { [oauth.allowInsecureRequests]: true };
const json = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
};

describe('RFC 8414 metadata, issuer without a path', () => {
  let gh: TestGatehouse;
  beforeAll(async () => {
    gh = await startTestGatehouse();
  });
  afterAll(() => gh?.close());

  it('is the OpenID discovery document, with what RFC 8414 and the MCP profile need', async () => {
    const openid = await json(`${gh.issuer}/.well-known/openid-configuration`);
    const oauth2 = await json(`${gh.issuer}/.well-known/oauth-authorization-server`);
    expect(oauth2.status).toBe(200);
    expect(oauth2.body).toEqual(openid.body);
    expect(oauth2.body.issuer).toBe(gh.issuer);
    for (const field of ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint']) {
      expect(String(oauth2.body[field]), field).toMatch(new RegExp(`^${gh.issuer}/`));
    }
    expect(oauth2.body.code_challenge_methods_supported).toEqual(['S256']);
    expect(oauth2.body.response_types_supported).toContain('code');
    expect(oauth2.body.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
    expect(oauth2.headers.get('cache-control')).toBe('public, max-age=300');
    expect(oauth2.headers.get('access-control-allow-origin')).toBe('*');
    const discovered = await oauth.processDiscoveryResponse(new URL(gh.issuer), await oauth.discoveryRequest(new URL(gh.issuer), { algorithm: 'oauth2', ...insecure }));
    expect(discovered.token_endpoint).toBe(`${gh.issuer}/token`);
  });

  it('serves nothing below the well-known path when the issuer has none', async () => {
    const below = await fetch(`${gh.issuer}/.well-known/oauth-authorization-server/tenant`);
    expect(below.status).toBe(404);
    expect(await below.text()).not.toContain('issuer');
  });
});

describe('RFC 8414 metadata, issuer with a path', () => {
  let gh: TestGatehouse;
  let origin: string;
  beforeAll(async () => {
    gh = await startTestGatehouse({ issuerPath: '/tenant' });
    origin = new URL(gh.issuer).origin;
  });
  afterAll(() => gh?.close());

  it('answers at the path-inserted location with the same document, which oauth4webapi accepts', async () => {
    const inserted = await json(`${origin}/.well-known/oauth-authorization-server/tenant`);
    expect(inserted.status).toBe(200);
    expect(inserted.body.issuer).toBe(gh.issuer);
    expect(inserted.body).toEqual((await json(`${origin}/.well-known/openid-configuration`)).body);
    expect(inserted.headers.get('cache-control')).toBe('public, max-age=300');
    const discovered = await oauth.processDiscoveryResponse(new URL(gh.issuer), await oauth.discoveryRequest(new URL(gh.issuer), { algorithm: 'oauth2', ...insecure }));
    expect(discovered.issuer).toBe(gh.issuer);
  });

  it('refuses other paths below the prefix and does not let the prefix match by case or a trailing segment', async () => {
    for (const path of ['/.well-known/oauth-authorization-server/other', '/.well-known/oauth-authorization-server/tenant/x', '/.well-known/oauth-authorization-server/TENANT']) {
      expect((await fetch(`${origin}${path}`)).status, path).toBe(404);
    }
  });
});
