/**
 * The pure parts of dynamic registration: redirect-URI and host rules, the
 * policy schema, the baseline, and the settings that configure registration.
 * (The integration suites in test/integration/registration drive all of it
 * through a real server.)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';

import { generateClientId } from '../../src/clients/clients.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { baselinePolicy, metadataViolation, policyRulesSchema } from '../../src/registration/policy.js';
import { hostAllowed, redirectUriProblem } from '../../src/registration/redirect-uris.js';
import { joinRegisteredScope, splitRegisteredScope } from '../../src/registration/registered-scope.js';

describe('redirect URI rules', () => {
  const hosts = policyRulesSchema.parse({ redirectHosts: ['app.example.com', '*.partner.example'] });

  it.each([
    'https://app.example.com/cb',
    'https://eu.partner.example/cb?x=1',
    'http://127.0.0.1:8400/cb',
    'http://[::1]/cb',
    'com.example.app:/cb',
  ])('accepts %s under the baseline', (uri) => {
    expect(redirectUriProblem(baselinePolicy, uri)).toBeUndefined();
  });

  it.each([
    ['http://app.example.com/cb', /must use https/],
    ['http://localhost:8400/cb', /rather than localhost/],
    ['https://app.example.com/cb#x', /fragment/],
    ['https://app.example.com/*', /wildcards/],
    ['https://u:p@app.example.com/cb', /credentials/],
    ['myapp:/cb', /reverse domain name/],
    ['javascript:alert(1)', /reverse domain name/],
    ['/relative', /absolute/],
  ])('refuses %s', (uri, problem) => {
    expect(redirectUriProblem(baselinePolicy, uri)).toMatch(problem);
  });

  it('holds https hosts and native schemes to the allowed hosts', () => {
    expect(redirectUriProblem(hosts, 'https://partner.example/cb')).toMatch(/not allowed/);
    expect(redirectUriProblem(hosts, 'https://app.example.com.evil.example/cb')).toMatch(/not allowed/);
    expect(redirectUriProblem(hosts, 'example.partner.eu:/cb')).toBeUndefined();
    expect(redirectUriProblem(hosts, 'com.evil.app:/cb')).toMatch(/does not belong/);
  });

  it('matches *.domain to subdomains only', () => {
    expect(hostAllowed(['*.example.com'], 'a.b.example.com')).toBe(true);
    expect(hostAllowed(['*.example.com'], 'example.com')).toBe(false);
    expect(hostAllowed(['*.example.com'], 'badexample.com')).toBe(false);
    expect(hostAllowed(['example.com'], 'EXAMPLE.com')).toBe(true);
  });
});

describe('policy rules', () => {
  it('has a conservative baseline: user sign-in only, no APIs, no cap', () => {
    expect(baselinePolicy).toMatchObject({ grantTypes: ['authorization_code', 'refresh_token'], resources: [], nativeRedirects: true, requireSoftwareStatement: false });
    expect(baselinePolicy.maxClientsPerToken).toBeUndefined();
  });

  it('refuses unknown rules, unsupported grant types and a default outside the allowed methods', () => {
    expect(() => policyRulesSchema.parse({ grantType: ['implicit'] })).toThrow();
    expect(() => policyRulesSchema.parse({ grantTypes: ['password'] })).toThrow();
    expect(() => policyRulesSchema.parse({ scopes: ['api:read'] })).toThrow();
    expect(() => policyRulesSchema.parse({ authMethods: ['none'] })).toThrow(/default auth method/);
    expect(() => policyRulesSchema.parse({ redirectHosts: ['https://app.example.com'] })).toThrow();
  });

  it('judges the metadata the library validated, one finding at a time', () => {
    const valid = { grant_types: ['authorization_code'], token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['https://app.example.com/cb'], scope: 'openid' };
    expect(metadataViolation(baselinePolicy, valid)).toBeUndefined();
    expect(metadataViolation(baselinePolicy, { ...valid, scope: undefined })?.description).toMatch(/^scope: register/);
    expect(metadataViolation(baselinePolicy, { ...valid, redirect_uris: ['http://x.example/cb'] })?.code).toBe('invalid_redirect_uri');
    expect(metadataViolation(baselinePolicy, { ...valid, post_logout_redirect_uris: ['http://x.example/cb'] })?.code).toBe('invalid_client_metadata');
    expect(metadataViolation(baselinePolicy, { ...valid, software_statement: 'x' })?.code).toBe('invalid_software_statement');
  });
});

describe('a registration\'s scope', () => {
  const split = (metadata: Record<string, unknown>) => {
    const copy = { ...metadata };
    splitRegisteredScope(copy);
    return copy;
  };

  it('keeps the provider\'s scopes in scope and the whole list in allowed_scopes', () => {
    expect(split({ scope: 'mcp:tools offline_access mcp:tools' })).toEqual({ scope: 'offline_access', allowed_scopes: 'mcp:tools offline_access' });
    expect(split({ scope: 'mcp:tools' })).toEqual({ allowed_scopes: 'mcp:tools' });
    // Only OpenID scopes: stored as before, no allowed_scopes.
    expect(split({ scope: 'openid email' })).toEqual({ scope: 'openid email' });
  });

  it('discards an allowed_scopes the client sends', () => {
    expect(split({ allowed_scopes: 'admin:write' })).toEqual({});
    expect(split({ scope: 'openid', allowed_scopes: 'mcp:tools' })).toEqual({ scope: 'openid' });
  });

  it('shows the client one scope, what a policy filled in included', () => {
    const answer: Record<string, unknown> = { scope: 'openid offline_access', allowed_scopes: 'mcp:tools offline_access' };
    joinRegisteredScope(answer);
    expect(answer).toEqual({ scope: 'mcp:tools offline_access openid' });
    const plain: Record<string, unknown> = { scope: 'openid' };
    joinRegisteredScope(plain);
    expect(plain).toEqual({ scope: 'openid' });
  });

  it('refuses API scopes of servers the client is not registered for, and names them', () => {
    const rules = policyRulesSchema.parse({ scopes: ['openid'], resources: ['https://a.example/', 'https://b.example/'] });
    const scopes = new Map([['https://a.example/', ['a:read']], ['https://b.example/', ['b:read']]]);
    const registration = (scope: string, resources: string[]) => ({ ...split({ scope }), resources, token_endpoint_auth_method: 'none', redirect_uris: [] });
    expect(metadataViolation(rules, { ...registration('a:read openid', ['https://a.example/']), scope: 'openid' }, scopes)).toBeUndefined();
    expect(metadataViolation(rules, { ...registration('b:read', ['https://a.example/']), scope: 'openid' }, scopes)?.description).toMatch(/^scope: b:read is not allowed/);
    // Without the resource servers' scopes at hand, nothing is assumed allowed.
    expect(metadataViolation(rules, { ...registration('a:read', ['https://a.example/']), scope: 'openid' })?.code).toBe('invalid_client_metadata');
  });
});

describe('client ids', () => {
  it('never start with "-", which the CLI would read as an option', () => {
    const ids = Array.from({ length: 5000 }, generateClientId);
    expect(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('registration settings', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('requires an initial access token by default and knows token, open and off', () => {
    expect(loadConfig({}).registration).toEqual({ mode: 'token', softwareStatementIssuers: {} });
    expect(loadConfig({ GATEHOUSE_REGISTRATION: 'open' }).registration.mode).toBe('open');
    expect(() => loadConfig({ GATEHOUSE_REGISTRATION: 'yes' })).toThrow(ConfigError);
  });

  it('reads trusted software-statement issuers inline or from a file, public keys only', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const issuers = { 'https://ssa.example.test': { keys: [await exportJWK(publicKey)] } };
    expect(Object.keys(loadConfig({ GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS: JSON.stringify(issuers) }).registration.softwareStatementIssuers)).toEqual(['https://ssa.example.test']);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-ssa-'));
    dirs.push(dir);
    await writeFile(path.join(dir, 'issuers.json'), JSON.stringify(issuers));
    expect(loadConfig({ GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE: path.join(dir, 'issuers.json') }).registration.softwareStatementIssuers).toEqual(issuers);

    const leaked = { 'https://ssa.example.test': { keys: [await exportJWK(privateKey)] } };
    expect(() => loadConfig({ GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS: JSON.stringify(leaked) })).toThrow(/private member/);
    expect(() => loadConfig({ GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS: '{not json' })).toThrow(/expected JSON/);
    expect(() => loadConfig({ GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS: '{}' })).toThrow(/at least one issuer/);
    expect(() => loadConfig({ GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE: path.join(dir, 'missing.json') })).toThrow(/cannot read/);
    expect(() => loadConfig({ GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS: JSON.stringify(issuers), GATEHOUSE_SOFTWARE_STATEMENT_ISSUERS_FILE: path.join(dir, 'issuers.json') })).toThrow(/set one, not both/);
  });
});

describe('recording client use on the token path', () => {
  it('writes at most once a minute per client from one node, and again after the minute', async () => {
    const { createUnusedClientSweep } = await import('../../src/registration/unused-clients.js');
    const queries: unknown[][] = [];
    const db = { query: async (_sql: string, params: unknown[]) => (queries.push(params), { rows: [], rowCount: 0 }) } as unknown as Parameters<typeof createUnusedClientSweep>[0];
    let clock = 1_000_000;
    const sweep = createUnusedClientSweep(db, { removeRegistered: async () => undefined }, { record: () => undefined } as never, () => clock);
    await sweep.touch('a');
    await sweep.touch('a');
    await sweep.touch('b');
    expect(queries).toEqual([['a'], ['b']]);
    clock += 59_999;
    await sweep.touch('a');
    expect(queries).toHaveLength(2);
    clock += 1;
    await sweep.touch('a');
    expect(queries).toEqual([['a'], ['b'], ['a']]);
  });
});
