/**
 * A few thousand malformed requests across every endpoint: wrong methods,
 * bodies, content types and encodings, huge and odd parameters, injection
 * strings, broken credentials, and raw bytes that are not HTTP at all. No
 * answer may be a 5xx, no body may carry a stack, a path, SQL or a library
 * name, no page may reflect markup, and every response carries a request id
 * that is in the log. Seeded, so a failure replays exactly.
 */
import { connect } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, internalDetail } from '../../support/requests.js';

/** mulberry32: small, seedable, good enough to pick cases. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const marker = '<script>alert(1)</script>';
const nasty = [
  "' OR '1'='1' --", '"; DROP TABLE accounts; --', marker, '"><img src=x onerror=alert(1)>', '${jndi:ldap://x/a}', '{{7*7}}', '../../../../etc/passwd',
  '%00', '\u0000', '\r\nSet-Cookie: pwned=1', 'ﾟ∀ﾟ😀', '\ud800', '%', '%zz', '%E0%A4%A', 'a'.repeat(5000), 'b'.repeat(70_000), '[]', '{}', 'null', '-1', '1e309',
  'javascript:alert(1)', 'http://evil.example/', '__proto__', 'constructor', 'toString',
];
const paths = [
  '/.well-known/openid-configuration', '/jwks', '/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/request', '/session/end',
  '/session/end/confirm', '/reg', '/reg/some-client', '/interaction/abc123', '/interaction/abc123/login', '/interaction/abc123/confirm',
  '/interaction/abc123/abort', '/interaction/abc123/second-factor', '/healthz', '/readyz', '/metrics', '/static/gatehouse.css', '/static/../package.json',
  '/favicon.ico', '/%2e%2e/%2e%2e/etc/passwd', '/token%00', '/auth/', '//token', '/interaction/%3Cscript%3E',
];
const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND'];
const contentTypes = [
  'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-16', 'application/x-www-form-urlencoded; charset=bogus', 'application/json',
  'text/plain', 'multipart/form-data; boundary=x', 'application/xml', '', 'application/x-www-form-urlencoded, application/json',
];
const params = ['client_id', 'client_secret', 'grant_type', 'code', 'code_verifier', 'redirect_uri', 'scope', 'response_type', 'state', 'nonce', 'token', 'refresh_token', 'resource', 'claims', 'request', 'request_uri', 'id_token_hint', 'login', 'password', 'csrf', 'client_assertion', 'client_assertion_type', 'code_challenge', 'max_age', 'prompt', 'x'];
const grantTypes = ['client_credentials', 'authorization_code', 'refresh_token', 'password', 'urn:ietf:params:oauth:grant-type:device_code', 'implicit', ''];

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes out raw: that is the point. */
const encode = (v: string) => {
  try {
    return encodeURIComponent(v);
  } catch {
    return v;
  }
};

type Case = { method: string; path: string; headers: Record<string, string>; body?: string | Uint8Array; label: string };

function makeCases(count: number, seed: number, client: { id: string; secret: string }): Case[] {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const value = () => (rnd() < 0.6 ? pick(nasty) : rnd() < 0.5 ? pick(grantTypes) : client.id);
  const form = (n: number) =>
    Array.from({ length: n }, () => `${rnd() < 0.1 ? pick(nasty) : pick(params)}=${rnd() < 0.3 ? value() : encode(value())}`).join('&');
  const cases: Case[] = [];
  for (let i = 0; i < count; i += 1) {
    const method = rnd() < 0.5 ? 'POST' : pick(methods);
    const path = pick(paths);
    const query = rnd() < 0.5 ? `?${form(1 + Math.floor(rnd() * 5))}` : '';
    const headers: Record<string, string> = {};
    const ct = pick(contentTypes);
    if (ct) headers['content-type'] = ct;
    const auth = rnd();
    if (auth < 0.15) headers.authorization = basic(client.id, client.secret);
    else if (auth < 0.3) headers.authorization = `Basic ${Buffer.from(`${encode(pick(nasty).slice(0, 300))}:${encode(pick(nasty).slice(0, 300))}`).toString('base64')}`;
    else if (auth < 0.4) headers.authorization = `Basic ${pick(['!!!', '', 'Og==', 'YTpi:', 'x'.repeat(3000)])}`;
    else if (auth < 0.5) headers.authorization = `Bearer ${pick(nasty).replace(/[^\x21-\x7e]/g, 'x').slice(0, 4000)}`;
    else if (auth < 0.55) headers.authorization = `DPoP ${'e'.repeat(100)}`;
    if (rnd() < 0.2) headers.cookie = `_session=${encode(pick(nasty).slice(0, 200)).replace(/[^\x21-\x7e]/g, "x")}; _interaction=abc123`;
    if (rnd() < 0.2) headers.accept = pick(['text/html', 'application/json', '*/*', 'image/png', 'text/html;q=0.1, application/json']);
    if (rnd() < 0.1) headers['x-forwarded-for'] = pick(nasty).replace(/[^\x20-\x7e]/g, '').slice(0, 200);
    let body: string | Uint8Array | undefined;
    if (method !== 'GET' && method !== 'HEAD') {
      const kind = rnd();
      if (kind < 0.55) body = form(1 + Math.floor(rnd() * 8));
      else if (kind < 0.65) body = JSON.stringify({ client_id: value(), redirect_uris: [value()], grant_types: [value()], [pick(params)]: value() });
      else if (kind < 0.7) body = '{"unterminated": ';
      else if (kind < 0.75) body = Uint8Array.from({ length: 512 }, () => Math.floor(rnd() * 256));
      else if (kind < 0.8) body = `grant_type=client_credentials&${'x='.padEnd(60_000, 'y')}`;
      else if (kind < 0.85) body = 'grant_type=client_credentials&grant_type=authorization_code&client_id=a&client_id=b';
      else if (kind < 0.9) body = '';
      else body = `${encode(marker)}=${encode(marker)}`;
    }
    cases.push({ method, path: `${path}${query}`, headers, ...(body !== undefined ? { body } : {}), label: `#${i} ${method} ${path}` });
  }
  return cases;
}

describe('malformed input across every endpoint', () => {
  let gh: TestGatehouse;
  let client: { id: string; secret: string };

  beforeAll(async () => {
    // Budgets high enough that requests reach the endpoints, but on: the limiter parses claims too.
    const generous = 'ip=off,client=100000/1m';
    gh = await startTestGatehouse({
      env: {
        GATEHOUSE_RATE_LIMIT_TOKEN: generous,
        GATEHOUSE_RATE_LIMIT_AUTHORIZATION: generous,
        GATEHOUSE_RATE_LIMIT_INTROSPECTION: generous,
        GATEHOUSE_RATE_LIMIT_REGISTRATION: generous,
        GATEHOUSE_RATE_LIMIT_INTERACTION: 'ip=100000/1m,client=off',
        GATEHOUSE_LOG_LEVEL: 'info',
      },
    });
    const created = await gh.createClient({ type: 'confidential', name: 'Fuzzed', redirectUris: ['https://rp.example.test/cb'] });
    client = { id: created.clientId, secret: created.clientSecret! };
  });
  afterAll(() => gh?.close());

  it('answers 3000 malformed requests without a 5xx, a leak or a missing request id', async () => {
    const cases = makeCases(3000, 20_251_122, client);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 12 }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          let response: Response;
          try {
            response = await fetch(`${gh.issuer}${c.path}`, { method: c.method, headers: c.headers, ...(c.body !== undefined ? { body: c.body } : {}), redirect: 'manual' });
          } catch (error) {
            failures.push(`${c.label}: no response (${(error as Error).message})`);
            continue;
          }
          const text = await response.text();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const id = response.headers.get('x-request-id');
          if (!id) failures.push(`${c.label}: ${response.status} without X-Request-Id`);
          else ids.push(id);
          if (response.status >= 500) failures.push(`${c.label}: ${response.status} ${text.slice(0, 200)}`);
          if (response.status >= 400) {
            const leak = internalDetail.exec(text);
            if (leak) failures.push(`${c.label}: ${response.status} body leaks "${leak[0]}": ${text.slice(0, 300)}`);
            const type = response.headers.get('content-type') ?? '';
            if (type.startsWith('application/json') && c.method !== 'HEAD') {
              try {
                if (typeof (JSON.parse(text) as { error?: unknown }).error !== 'string') failures.push(`${c.label}: JSON error without an error code`);
              } catch {
                failures.push(`${c.label}: unparseable JSON error body`);
              }
            }
          }
          if (text.includes(marker) || /<img src=x onerror/.test(text)) failures.push(`${c.label}: reflects markup unescaped`);
          if (response.headers.get('set-cookie')?.includes('pwned')) failures.push(`${c.label}: header injection`);
        }
      }),
    );
    process.stdout.write(`[measure] fuzz statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}\n`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect([...statuses.keys()].some((s) => s >= 400)).toBe(true);
    expect([...statuses.keys()].some((s) => s < 400)).toBe(true);
    // Every request id handed out is in a log line.
    const logged = new Set(gh.logs.map((l) => (JSON.parse(l) as { requestId?: string }).requestId).filter(Boolean));
    const missing = ids.filter((id) => !logged.has(id));
    expect(missing.slice(0, 5)).toEqual([]);
    expect(gh.logs.filter((l) => l.includes('"level":50')).slice(0, 3)).toEqual([]);
  }, 240_000);

  it('answers NUL, surrogates, overlong UTF-8 and bad Host values on every endpoint with a 4xx (or a success), never a 5xx', async () => {
    const { request } = await import('node:http');
    const port = Number(new URL(gh.issuer).port);
    // Encoded as a client would send them, and raw, where the channel allows raw bytes.
    const encoded = ['abc%00', '%00', '%ED%A0%80', '%ED%B0%80', '%C0%AF', '%C0%80', '%E0%80%AF', '%F8%88%80%80%80', '%E0%A4%A', '%zz', '%'];
    const rawBytes = [Buffer.from([0x00]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xe0, 0x80, 0xaf]), Buffer.from([0xff])];
    const json = ['"a\\u0000b"', '"\\ud800"', '"\\udfff"', '"\\ud800\\u0041"'];
    const hosts = ['127.0.0.1:99999', '127.0.0.1:-1', '127.0.0.1:abc', 'evil.example', '[::1', 'a..b', `${'h'.repeat(300)}.example`, '127.0.0.1:0'];
    type Shot = { method: string; path: string; headers: Record<string, string>; body?: Buffer; label: string };
    const shots: Shot[] = [];
    const formType = { 'content-type': 'application/x-www-form-urlencoded' };
    for (const path of paths) {
      const sep = path.includes('?') ? '&' : '?';
      for (const bad of encoded) {
        shots.push({ method: 'GET', path: `${path}${sep}client_id=${bad}&state=${bad}`, headers: {}, label: `GET ${path} query ${bad}` });
        shots.push({ method: 'POST', path, headers: formType, body: Buffer.from(`grant_type=client_credentials&client_id=${bad}&login=${bad}&token=${bad}`), label: `POST ${path} form ${bad}` });
        shots.push({ method: 'POST', path, headers: { ...formType, authorization: `Basic ${Buffer.from(`${bad}:${bad}`).toString('base64')}` }, body: Buffer.from('grant_type=client_credentials&token=x'), label: `POST ${path} Basic ${bad}` });
      }
      for (const bytes of rawBytes) {
        shots.push({ method: 'POST', path, headers: formType, body: Buffer.concat([Buffer.from('grant_type=client_credentials&client_id=a'), bytes]), label: `POST ${path} raw form ${bytes.toString('hex')}` });
        shots.push({ method: 'POST', path, headers: { ...formType, authorization: `Basic ${Buffer.concat([Buffer.from('a'), bytes, Buffer.from(':s')]).toString('base64')}` }, body: Buffer.from('token=x'), label: `POST ${path} raw Basic ${bytes.toString('hex')}` });
        shots.push({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: Buffer.concat([Buffer.from('{"redirect_uris":["https://rp.example.test/cb"],"client_name":"'), bytes, Buffer.from('"}')]), label: `POST ${path} raw JSON ${bytes.toString('hex')}` });
      }
      for (const value of json) {
        shots.push({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: Buffer.from(`{"redirect_uris":["https://rp.example.test/cb"],"client_name":${value},"contacts":[${value}]}`), label: `POST ${path} JSON ${value}` });
      }
      for (const host of hosts) shots.push({ method: 'GET', path, headers: { host }, label: `GET ${path} Host ${host}` });
    }
    const send = (shot: Shot) =>
      new Promise<{ status: number; requestId: string | undefined; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: shot.method, path: shot.path, headers: { ...shot.headers, ...(shot.body ? { 'content-length': String(shot.body.length) } : {}) } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, requestId: res.headers['x-request-id'] as string | undefined, body }));
        });
        req.on('error', reject);
        req.end(shot.body);
      });
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < shots.length) {
          const shot = shots[next++]!;
          const answer = await send(shot).catch((error: Error) => ({ status: 0, requestId: undefined, body: error.message }));
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (answer.status === 0 || answer.status >= 500) failures.push(`${shot.label}: ${answer.status} ${answer.body.slice(0, 200)}`);
          if (answer.status !== 0 && !answer.requestId) failures.push(`${shot.label}: no X-Request-Id`);
          const leak = internalDetail.exec(answer.body);
          if (answer.status >= 400 && leak) failures.push(`${shot.label}: body leaks "${leak[0]}"`);
        }
      }),
    );
    process.stdout.write(`[measure] invalid-text fuzz: ${shots.length} requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}\n`);
    expect(failures.slice(0, 20)).toEqual([]);
    expect(shots.length).toBeGreaterThan(1000);
    expect(gh.logs.filter((l) => l.includes('"level":50')).slice(0, 3)).toEqual([]);
  }, 240_000);

  it('answers bytes that are not HTTP with a 400 or 431 that still carries a request id', async () => {
    const port = new URL(gh.issuer).port;
    const raw = (payload: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(port), '127.0.0.1');
        let out = '';
        socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
        socket.write(payload);
        setTimeout(() => socket.end(), 500);
      });
    for (const payload of [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/9.9\r\nHost: x\r\n\r\n',
      `GET /token HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET /\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
    ]) {
      const answer = await raw(payload);
      expect(answer, JSON.stringify(payload.slice(0, 40))).toMatch(/^HTTP\/1\.1 (400|431) /);
      const id = /X-Request-Id: ([0-9a-f-]{36})/i.exec(answer)?.[1];
      expect(id).toBeDefined();
      expect(gh.logs.some((l) => l.includes(id!) && l.includes('malformed HTTP request'))).toBe(true);
      expect(internalDetail.test(answer.split('\r\n\r\n')[1] ?? '')).toBe(false);
    }
  });
});
