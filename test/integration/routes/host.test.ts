/**
 * The Host header is not trusted (issue 22 item 6): raw HTTP requests with
 * hostile Host values, absolute request targets and forwarded hosts. Every
 * URL the library builds (discovery, the logout form's action) comes from
 * the configured issuer; a malformed Host is a 400 `invalid_request`, never a
 * 500; discovery is cacheable.
 */
import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request written byte for byte (fetch and node:http both refuse or rewrite odd Host values). */
function raw(base: string, head: string, body = ''): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(split + 4) });
    });
    const length = body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : '';
    socket.write(`${head}\r\n${length}Connection: close\r\n\r\n${body}`);
  });
}

describe('the Host header is not trusted', () => {
  let gh: TestGatehouse;

  beforeAll(async () => {
    // A trusted proxy, so even a forwarded host from it is in play (and must not be believed either).
    gh = await startTestGatehouse({ env: { GATEHOUSE_TRUST_PROXY: 'true', GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1' } });
  });
  afterAll(() => gh?.close());

  const discoveryUrls = (body: string) => {
    const document = JSON.parse(body) as Record<string, unknown>;
    return Object.entries(document).filter(([key, value]) => /(_endpoint|_uri)$/.test(key) && typeof value === 'string') as Array<[string, string]>;
  };

  for (const [what, head] of [
    ['a foreign Host', 'GET /.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example'],
    ['a foreign Host with a port', 'GET /.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example:8443'],
    ['an absolute request target', 'GET http://evil.example/.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example'],
    ['X-Forwarded-Host from a trusted proxy', 'GET /.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https'],
    ['HTTP/1.0 without a Host', 'GET /.well-known/openid-configuration HTTP/1.0'],
    ['the other discovery document', 'GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: evil.example'],
  ] as const) {
    it(`builds every discovery URL from the issuer, whatever ${what} says`, async () => {
      const response = await raw(gh.issuer, head);
      expect(response.status).toBe(200);
      const urls = discoveryUrls(response.body);
      expect(urls.length).toBeGreaterThanOrEqual(8);
      for (const [key, url] of urls) expect(url, key).toMatch(new RegExp(`^${gh.issuer.replace(/[.]/g, '\\.')}/`));
      expect(response.body).not.toContain('evil.example');
      expect(response.headers['cache-control']).toBe('public, max-age=300');
    });
  }

  it('builds the logout form action from the issuer', async () => {
    const response = await raw(gh.issuer, 'GET /session/end HTTP/1.1\r\nHost: evil.example');
    expect(response.status).toBe(200);
    expect(response.body).toContain(`${gh.issuer}/session/end/confirm`);
    expect(response.body).not.toContain('evil.example');
  });

  const malformed = ['127.0.0.1:99999', '127.0.0.1:8x', 'evil.example/path', 'a b', '[::1', 'user@evil.example', 'evil.example:80:80', '%00', 'évil.example'];
  for (const host of malformed) {
    for (const [method, path] of [['GET', '/.well-known/openid-configuration'], ['POST', '/token'], ['GET', '/jwks'], ['GET', '/me']] as const) {
      it(`answers ${method} ${path} with Host "${host}" with 400 invalid_request`, async () => {
        const response = await raw(gh.issuer, `${method} ${path} HTTP/1.1\r\nHost: ${host}${method === 'POST' ? '\r\nContent-Type: application/x-www-form-urlencoded' : ''}`, method === 'POST' ? 'grant_type=client_credentials' : '');
        expect(response.status).toBe(400);
        expect(JSON.parse(response.body)).toEqual({ error: 'invalid_request', error_description: 'The Host header is not valid.' });
        expect(response.headers['x-request-id']).toBeTruthy();
      });
    }
  }

  it('answers a page route with a malformed Host with a 400 page', async () => {
    const response = await raw(gh.issuer, 'GET /auth?client_id=x HTTP/1.1\r\nHost: 127.0.0.1:99999');
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toContain('invalid_request');
  });

  it('answers a malformed X-Forwarded-Host from a trusted proxy with 400 too', async () => {
    const response = await raw(gh.issuer, 'GET /.well-known/openid-configuration HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Host: 127.0.0.1:70000');
    expect(response.status).toBe(400);
  });

  it('still serves the issuer host itself, with or without the port spelled out', async () => {
    const { host } = new URL(gh.issuer);
    for (const value of [host, host.toUpperCase(), '127.0.0.1', 'localhost', '[::1]:1234']) {
      const response = await raw(gh.issuer, `GET /.well-known/openid-configuration HTTP/1.1\r\nHost: ${value}`);
      expect(response.status, value).toBe(200);
      expect(JSON.parse(response.body).token_endpoint).toBe(`${gh.issuer}/token`);
    }
  });
});
