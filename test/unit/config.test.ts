import { readFile } from 'node:fs/promises';

import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, settings } from '../../src/config/index.js';
import { configTable, tableEnd, tableStart } from '../../src/config/table.js';
import { parseDuration } from '../../src/config/duration.js';

const strongKey = 'k'.repeat(43);

describe('configuration', () => {
  it('has working defaults for development', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ env: 'development', issuer: 'http://localhost:3000', port: 3000, host: '127.0.0.1', databaseUrl: undefined });
    expect(config.ttl).toMatchObject({ accessToken: 600, authorizationCode: 60, refreshToken: 14 * 86_400 });
    expect(config.argon2).toEqual({ memoryKib: 7168, iterations: 5, parallelism: 1 });
  });

  it('has tight defaults for failed client authentication and a per-token registration budget', () => {
    const config = loadConfig({});
    expect(config.rateLimits.clientAuthFailures).toEqual({ ip: { count: 20, windowSeconds: 60 }, client: { count: 10, windowSeconds: 60 } });
    expect(config.rateLimits.registrationPerToken).toEqual({ count: 300, windowSeconds: 3600 });
    expect(config.rateLimits.budgets.registration.ip).toEqual({ count: 30, windowSeconds: 3600 });
    expect(loadConfig({ GATEHOUSE_RATE_LIMIT_REGISTRATION_TOKEN: 'off' }).rateLimits.registrationPerToken).toBeUndefined();
    expect(loadConfig({ GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES: 'ip=off,client=3/30s' }).rateLimits.clientAuthFailures).toEqual({ ip: undefined, client: { count: 3, windowSeconds: 30 } });
    expect(() => loadConfig({ GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES: 'client=lots' })).toThrow(/GATEHOUSE_RATE_LIMIT_CLIENT_AUTH_FAILURES/);
    expect(() => loadConfig({ GATEHOUSE_RATE_LIMIT_REGISTRATION_TOKEN: '0/1h' })).toThrow(/GATEHOUSE_RATE_LIMIT_REGISTRATION_TOKEN/);
  });

  it('derives the default issuer from the port', () => {
    expect(loadConfig({ GATEHOUSE_PORT: '4100' }).issuer).toBe('http://localhost:4100');
    expect(loadConfig({ GATEHOUSE_ISSUER: 'https://id.example.com/' }).issuer).toBe('https://id.example.com');
  });

  it('names every bad variable in one error', () => {
    try {
      loadConfig({ GATEHOUSE_PORT: 'eighty', GATEHOUSE_ACCESS_TOKEN_TTL: '10 minutes', GATEHOUSE_ISSUER: 'not a url' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain('GATEHOUSE_PORT');
      expect(message).toContain('GATEHOUSE_ACCESS_TOKEN_TTL');
      expect(message).toContain('GATEHOUSE_ISSUER');
    }
  });

  it('rejects unknown GATEHOUSE_ variables (typos) and query strings in the issuer', () => {
    expect(() => loadConfig({ GATEHOUSE_PROT: '3000' })).toThrow(/GATEHOUSE_PROT: unknown setting/);
    expect(() => loadConfig({ GATEHOUSE_ISSUER: 'https://id.example.com/?x=1' })).toThrow(/query or fragment/);
    expect(() => loadConfig({ GATEHOUSE_MASTER_KEY: strongKey, GATEHOUSE_MASTER_KEY_FILE: '/x' })).toThrow(/set one, not both/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL/);
  });

  it('takes a transaction pooler only with a direct URL for LISTEN and locks', () => {
    const pooled = { DATABASE_URL: 'postgres://pooler/gh', GATEHOUSE_DATABASE_POOLER: 'transaction' };
    expect(() => loadConfig(pooled)).toThrow(/GATEHOUSE_DATABASE_POOLER=transaction: set GATEHOUSE_DATABASE_DIRECT_URL/);
    expect(() => loadConfig({ GATEHOUSE_DATABASE_DIRECT_URL: 'postgres://db/gh' })).toThrow(/only meaningful with DATABASE_URL/);
    expect(() => loadConfig({ ...pooled, GATEHOUSE_DATABASE_POOLER: 'statement' })).toThrow(/GATEHOUSE_DATABASE_POOLER/);
    const config = loadConfig({ ...pooled, GATEHOUSE_DATABASE_DIRECT_URL: 'postgres://db/gh' });
    expect([config.databasePooler, config.databaseDirectUrl]).toEqual(['transaction', 'postgres://db/gh']);
  });

  it('refuses each unsafe setting in production, saying why', () => {
    const safe = { NODE_ENV: 'production', GATEHOUSE_ISSUER: 'https://id.example.com', GATEHOUSE_MASTER_KEY: strongKey, DATABASE_URL: 'postgres://db/gh' };
    expect(loadConfig(safe).env).toBe('production');
    expect(() => loadConfig({ ...safe, GATEHOUSE_ISSUER: 'http://id.example.com' })).toThrow(/https issuer/);
    expect(loadConfig({ ...safe, GATEHOUSE_ISSUER: 'http://127.0.0.1:3000' }).issuer).toBe('http://127.0.0.1:3000');
    expect(() => loadConfig({ ...safe, GATEHOUSE_MASTER_KEY: undefined })).toThrow(/requires a master secret/);
    expect(() => loadConfig({ ...safe, DATABASE_URL: undefined })).toThrow(/requires PostgreSQL/);
    expect(() => loadConfig({ ...safe, GATEHOUSE_ARGON2_MEMORY_KIB: '4096' })).toThrow(/OWASP/);
    expect(() => loadConfig({ ...safe, GATEHOUSE_ARGON2_MEMORY_KIB: '12288', GATEHOUSE_ARGON2_ITERATIONS: '2' })).toThrow(/OWASP/);
    expect(loadConfig({ ...safe, GATEHOUSE_ARGON2_MEMORY_KIB: '12288', GATEHOUSE_ARGON2_ITERATIONS: '3' }).argon2.memoryKib).toBe(12288);
  });

  it('sends mail over TLS in production unless the relay is on loopback, and needs a sender', () => {
    const safe = { NODE_ENV: 'production', GATEHOUSE_ISSUER: 'https://id.example.com', GATEHOUSE_MASTER_KEY: strongKey, DATABASE_URL: 'postgres://db/gh' };
    const mail = { ...safe, GATEHOUSE_SMTP_URL: 'smtp://mail.example.com:587', GATEHOUSE_MAIL_FROM: 'Gatehouse <id@example.com>' };
    expect(loadConfig(mail).mail).toMatchObject({ enabled: true, requireTls: true });
    expect(loadConfig({ ...mail, NODE_ENV: 'development' }).mail.requireTls).toBe(false);
    expect(() => loadConfig({ ...mail, GATEHOUSE_SMTP_REQUIRE_TLS: 'false' })).toThrow(/GATEHOUSE_SMTP_REQUIRE_TLS=false/);
    expect(loadConfig({ ...mail, GATEHOUSE_SMTP_URL: 'smtp://127.0.0.1:25', GATEHOUSE_SMTP_REQUIRE_TLS: 'false' }).mail.requireTls).toBe(false);
    expect(() => loadConfig({ ...mail, GATEHOUSE_MAIL_FROM: undefined })).toThrow(/GATEHOUSE_MAIL_FROM/);
    expect(() => loadConfig({ ...mail, GATEHOUSE_SMTP_URL: 'http://mail.example.com' })).toThrow(/GATEHOUSE_SMTP_URL/);
    expect(() => loadConfig({ ...mail, GATEHOUSE_MAIL_FROM: 'x@y\r\nBcc: z@w' })).toThrow(/GATEHOUSE_MAIL_FROM/);
    expect(() => loadConfig({ ...mail, GATEHOUSE_PASSWORD_RESET_TTL: '2h' })).toThrow(/at most 1h/);
    expect(loadConfig(safe).mail.enabled).toBe(false);
  });

  it('parses durations strictly', () => {
    expect(parseDuration('600')).toBe(600);
    expect(parseDuration('15m')).toBe(900);
    expect(parseDuration('30d')).toBe(2_592_000);
    for (const bad of ['', '1.5h', '-5', '10 m', '1w', '9999999999']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('documents every setting in README.md exactly as config.ts defines it', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf(tableStart) + tableStart.length, readme.indexOf(tableEnd)).trim();
    expect(section).toBe(configTable());
    for (const s of settings) expect(section).toContain(`\`${s.env}\``);
  });
});
