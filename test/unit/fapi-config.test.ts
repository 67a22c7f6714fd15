import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig } from '../../src/config/index.js';
import { fapiClientMetadata, fapiViolation } from '../../src/oidc/fapi.js';
import { requireDpopForPublicClients } from '../../src/oidc/dpop.js';

describe('GATEHOUSE_PROFILE=fapi2 settings', () => {
  it('defaults the signing algorithms to the profile\'s and refuses RS256 or codes over 60 s', () => {
    expect(loadConfig({ GATEHOUSE_PROFILE: 'fapi2' }).keys.algorithms).toEqual(['ES256', 'PS256']);
    expect(loadConfig({}).keys.algorithms).toEqual(['ES256', 'RS256']);
    expect(() => loadConfig({ GATEHOUSE_PROFILE: 'fapi2', GATEHOUSE_SIGNING_ALGORITHMS: 'ES256,RS256' })).toThrow(/GATEHOUSE_SIGNING_ALGORITHMS: .*RS256/);
    expect(() => loadConfig({ GATEHOUSE_PROFILE: 'fapi2', GATEHOUSE_AUTHORIZATION_CODE_TTL: '61s' })).toThrow(ConfigError);
    expect(() => loadConfig({ GATEHOUSE_PROFILE: 'fapi1' })).toThrow(/GATEHOUSE_PROFILE/);
  });

  it('reads the DPoP settings', () => {
    expect(loadConfig({}).dpop).toEqual({ requireNonce: true, publicClientsRequireDpop: false });
    expect(loadConfig({ GATEHOUSE_DPOP_REQUIRE_NONCE: 'false', GATEHOUSE_PUBLIC_CLIENTS_REQUIRE_DPOP: 'true' }).dpop).toEqual({ requireNonce: false, publicClientsRequireDpop: true });
  });
});

describe('client metadata under the sender-constraint policies', () => {
  it('binds a FAPI client by how it authenticates, requires PAR, and makes a breaking client unusable', () => {
    expect(fapiClientMetadata('fapi2', { token_endpoint_auth_method: 'private_key_jwt' })).toEqual({ token_endpoint_auth_method: 'private_key_jwt', dpop_bound_access_tokens: true, require_pushed_authorization_requests: true });
    expect(fapiClientMetadata('fapi2', { token_endpoint_auth_method: 'tls_client_auth' })).toMatchObject({ tls_client_certificate_bound_access_tokens: true });
    expect(fapiClientMetadata('fapi2', { token_endpoint_auth_method: 'client_secret_basic' })).toBeUndefined();
    expect(fapiClientMetadata('fapi2', { token_endpoint_auth_method: 'none' })).toBeUndefined();
    expect(fapiClientMetadata('standard', { token_endpoint_auth_method: 'client_secret_basic' })).toEqual({ token_endpoint_auth_method: 'client_secret_basic' });
    expect(fapiClientMetadata('standard', { token_endpoint_auth_method: 'client_secret_basic', security_profile: 'fapi2' })).toBeUndefined();
    expect(fapiViolation({ token_endpoint_auth_method: 'private_key_jwt', id_token_signed_response_alg: 'RS256' })).toMatch(/id_token_signed_response_alg: RS256/);
    expect(fapiViolation({ token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'HS256' })).toMatch(/HS256/);
  });

  it('requires DPoP of public clients unless their certificate binds them', () => {
    expect(requireDpopForPublicClients({ token_endpoint_auth_method: 'none' })).toMatchObject({ dpop_bound_access_tokens: true });
    expect(requireDpopForPublicClients({ token_endpoint_auth_method: 'none', tls_client_certificate_bound_access_tokens: true })).not.toHaveProperty('dpop_bound_access_tokens');
    expect(requireDpopForPublicClients({ token_endpoint_auth_method: 'client_secret_basic' })).not.toHaveProperty('dpop_bound_access_tokens');
  });
});
