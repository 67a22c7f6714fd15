import { afterEach, describe, expect, it, vi } from 'vitest';

import { hostAllowed } from '../../src/config/outbound-formats.js';
import { createOutboundFetch, isSpecialUseAddress } from '../../src/oidc/outbound-fetch.js';

describe('the outbound address guard', () => {
  it.each([
    '127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:a00:1', '2001:db8::1', '64:ff9b::a00:1', 'not-an-ip',
  ])('refuses %s', (address) => {
    expect(isSpecialUseAddress(address)).toBe(true);
  });

  it.each(['93.184.215.14', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '::ffff:808:808'])('lets %s through', (address) => {
    expect(isSpecialUseAddress(address)).toBe(false);
  });

  afterEach(() => vi.unstubAllEnvs());

  it('cannot be built with its test overrides when NODE_ENV=production', () => {
    vi.stubEnv('NODE_ENV', 'production');
    expect(() => createOutboundFetch({ timeoutMs: 1000, testResolve: new Map([['cimd.test', '127.0.0.1']]) })).toThrow(/NODE_ENV=production/);
    expect(() => createOutboundFetch({ timeoutMs: 1000 })).not.toThrow();
  });

  it('fetches https only', async () => {
    const guarded = createOutboundFetch({ timeoutMs: 1000 });
    await expect(guarded('http://example.com/doc.json', {})).rejects.toThrow(/only https/);
  });
});

describe('metadata-document host patterns', () => {
  it('match exact names and the subdomains of a *. pattern, never the bare domain', () => {
    expect(hostAllowed(['app.example.com'], 'app.example.com')).toBe(true);
    expect(hostAllowed(['app.example.com'], 'evil-app.example.com')).toBe(false);
    expect(hostAllowed(['*.agents.example'], 'a.agents.example')).toBe(true);
    expect(hostAllowed(['*.agents.example'], 'agents.example')).toBe(false);
    expect(hostAllowed(['*.agents.example'], 'agents.example.evil')).toBe(false);
    expect(hostAllowed(['*.agents.example'], 'xagents.example')).toBe(false);
  });
});
