/**
 * The nginx helper's TLS side (test/support/nginx.ts), with the header-mode
 * mTLS server block of docker/nginx/gatehouse.conf in front of a stub that
 * echoes what it was given: nginx terminates TLS, asks for a client
 * certificate, passes it URL-encoded in X-SSL-Client-Cert, and replaces a
 * header of that name the client wrote itself.
 */
import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freePort } from '../../support/gatehouse.js';
import { createProxyTls, startNginx, type Nginx, type ProxyTls } from '../../support/nginx.js';

function get(port: number, options: { ca: string; cert?: string; key?: string; headers?: Record<string, string> }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/token', servername: 'localhost', ...options }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('nginx helper: TLS termination and a client certificate passed in a header', () => {
  let tls: ProxyTls;
  let nginx: Nginx;
  let stub: Server;
  let port: number;

  beforeAll(async () => {
    tls = await createProxyTls({ hostnames: ['localhost'] });
    stub = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ cert: req.headers['x-ssl-client-cert'] ?? null, proto: req.headers['x-forwarded-proto'] }));
    });
    await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
    port = await freePort();
    nginx = await startNginx({
      config: `
  upstream gatehouse { server 127.0.0.1:${(stub.address() as AddressInfo).port}; keepalive 8; }
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate     ${tls.certFile};
    ssl_certificate_key ${tls.keyFile};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional_no_ca;
    location / {
      proxy_pass http://gatehouse;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
    }
  }`,
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    stub?.close();
    await tls?.remove();
  });

  it('passes the client certificate URL-encoded', async () => {
    const client = await tls.issueClient('CN=client-one');
    const { status, body } = await get(port, { ca: tls.caPem, cert: client.certificatePem, key: client.privateKeyPem });
    expect(status).toBe(200);
    const echoed = JSON.parse(body) as { cert: string | null; proto: string };
    expect(echoed.proto).toBe('https');
    expect(decodeURIComponent(echoed.cert!).trim()).toBe(client.certificatePem.trim());
  });

  it('sends no certificate header without a certificate, and never one the client wrote', async () => {
    const { status, body } = await get(port, { ca: tls.caPem, headers: { 'x-ssl-client-cert': 'forged' } });
    expect(status).toBe(200);
    expect((JSON.parse(body) as { cert: string | null }).cert).toBeNull();
  });

  it('keeps its pid, configuration and logs in its own prefix', async () => {
    expect(nginx.prefix).toMatch(/gatehouse-nginx-/);
    expect(await nginx.accessLog()).toContain('GET /token');
  });
});
