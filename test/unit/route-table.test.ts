/**
 * The route table's lookup, and the library routes of every optional
 * oidc-provider feature: enabling one (device flow, CIBA, attestation) must
 * not put a path outside the table.
 */
import Provider from 'oidc-provider';
import { describe, expect, it } from 'vitest';

import { indexRoutes, libraryRoutes, mtlsEndpointAliases, routes, routeTable, type Route } from '../../src/http/route-table.js';
import { libraryRegistrations, servedRoutes, unlistedRoutes } from '../support/library-routes.js';

describe('the route table', () => {
  it('reads the library source the way the check needs (the enumeration itself can fail)', () => {
    const names = new Set(libraryRegistrations().map((r) => r.name));
    for (const name of ['authorization', 'resume', 'token', 'userinfo', 'jwks', 'discovery', 'registration', 'client', 'revocation', 'introspection', 'end_session', 'end_session_confirm', 'end_session_success', 'device_authorization', 'code_verification', 'device_resume', 'pushed_authorization_request', 'backchannel_authentication']) {
      expect(names, name).toContain(name);
    }
  });
  it('lists every route of every optional library feature, so enabling one cannot escape the edge', () => {
    const everything = new Provider('http://localhost:3000', {
      routes: libraryRoutes(),
      enableHttpPostMethods: true,
      cookies: { long: { sameSite: 'none', secure: true }, short: { sameSite: 'none', secure: true } },
      features: {
        devInteractions: { enabled: false },
        deviceFlow: { enabled: true },
        introspection: { enabled: true },
        revocation: { enabled: true },
        registration: { enabled: true },
        registrationManagement: { enabled: true },
        ciba: { enabled: true, deliveryModes: ['poll'], processLoginHint: async () => 'x', validateBindingMessage: async () => undefined, validateRequestContext: async () => undefined, verifyUserCode: async () => undefined, triggerAuthenticationDevice: async () => undefined },
        dPoP: { enabled: true, nonceSecret: Buffer.alloc(32, 1) },
        attestClientAuth: { enabled: true, challengeSecret: Buffer.alloc(32, 2), assertAttestationJwtAndPop: async () => undefined },
      },
    } as unknown as ConstructorParameters<typeof Provider>[1]);
    const served = servedRoutes(everything);
    expect(served.map((r) => r.name)).toEqual(expect.arrayContaining(['device_authorization', 'code_verification', 'device_resume', 'backchannel_authentication', 'challenge']));
    expect(unlistedRoutes(served)).toEqual([]);
  });
  it('resolves paths with one lookup structure, ours exactly and the library’s as its router does', () => {
    expect(routes.resolve('/token').name).toBe('token');
    expect(routes.resolve('/TOKEN/').name).toBe('token');
    expect(routes.resolve('/reg/abc').name).toBe('client');
    expect(routes.resolve('/auth/uid123').name).toBe('resume');
    expect(routes.resolve('/interaction/uid/login').name).toBe('interaction');
    expect(routes.resolve('/admin/v1').name).toBe('admin');
    expect(routes.resolve('/admin/v1/clients/x').name).toBe('admin');
    expect(routes.resolve('/admin').name).toBe('unmatched');
    // Gatehouse's own paths are exact: the library would not serve /HEALTHZ either.
    expect(routes.resolve('/HEALTHZ').name).toBe('unmatched');
    expect(routes.resolve('/to\u212aen').name).toBe('unmatched');
    expect(routes.resolve('/').name).toBe('home');
    expect(routes.resolve('').name).toBe('unmatched');
    expect(routeTable.filter((r) => r.reserved).map((r) => r.name)).toEqual(['account']);
    expect(routes.byName('admin').token).toEqual({ required: true, scopes: [] });
  });

  it('lists the mTLS aliases of the endpoints that are on, on the mTLS origin', () => {
    const on = new Set(['introspection', 'revocation', 'userinfo', 'pushedAuthorizationRequests']);
    expect(mtlsEndpointAliases('https://mtls.example', (f) => on.has(f))).toEqual({
      token_endpoint: 'https://mtls.example/token',
      introspection_endpoint: 'https://mtls.example/token/introspection',
      revocation_endpoint: 'https://mtls.example/token/revocation',
      userinfo_endpoint: 'https://mtls.example/me',
      pushed_authorization_request_endpoint: 'https://mtls.example/request',
    });
    expect(mtlsEndpointAliases('https://m', () => true)).toHaveProperty('device_authorization_endpoint', 'https://m/device/auth');
  });

  it('refuses a table that lists a path twice', () => {
    const token = routes.byName('token');
    expect(() => indexRoutes([token, { ...token, name: 'token2' } as Route])).toThrow(/listed twice/);
    expect(() => indexRoutes([token, token])).toThrow(/duplicate name/);
  });
});
