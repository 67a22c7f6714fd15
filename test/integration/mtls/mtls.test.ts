/**
 * RFC 8705 against a real Gatehouse: its mTLS listener, certificates created
 * at run time, clients registered through dynamic registration (RFC 7591),
 * openid-client as the relying party, and the example resource server.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

import { decodeJwt, exportJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listen } from '../../../examples/resource-server/api.js';
import { createCertificateAuthority, issueCertificate, type IssuedCertificate } from '../../../src/tls/pki.js';
import { cli } from '../../support/cli.js';
import { freshDatabase, integrationDbKind } from '../../support/databases.js';
import { freePort, startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { createProxyTls, startNginx, type Nginx, type ProxyTls } from '../../support/nginx.js';
import { signInThroughPages, UserAgent } from '../../support/user-agent.js';
import { operator } from '../../../src/audit/events.js';

const api = 'https://api.example.test';
const thumbprint = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

interface Pki {
  ca: IssuedCertificate;
  worker: IssuedCertificate;
  otherCaWorker: IssuedCertificate;
  wrongSubject: IssuedCertificate;
  expired: IssuedCertificate;
  selfSigned: IssuedCertificate;
  strangerSelfSigned: IssuedCertificate;
}

async function createPki(): Promise<Pki> {
  const ca = await createCertificateAuthority('CN=Partner CA,O=Example Corp');
  const otherCa = await createCertificateAuthority('CN=Partner CA,O=Example Corp'); // same name, different key
  const subject = 'CN=billing-worker,O=Example Corp';
  return {
    ca,
    worker: await issueCertificate({ subject, usage: 'client', issuer: ca }),
    otherCaWorker: await issueCertificate({ subject, usage: 'client', issuer: otherCa }),
    wrongSubject: await issueCertificate({ subject: 'CN=someone-else,O=Example Corp', usage: 'client', issuer: ca }),
    expired: await issueCertificate({ subject, usage: 'client', issuer: ca, days: 1, startOffsetDays: -10 }),
    selfSigned: await issueCertificate({ subject: 'CN=self-signed-worker', usage: 'client' }),
    strangerSelfSigned: await issueCertificate({ subject: 'CN=self-signed-worker', usage: 'client' }),
  };
}

/** A fetch that presents a client certificate and trusts Gatehouse's development CA. */
function mtlsFetch(devCa: string, cert?: IssuedCertificate): typeof fetch {
  const dispatcher = new Agent({ connect: { ca: devCa, ...(cert ? { cert: cert.certificatePem, key: cert.privateKeyPem } : {}) } });
  return ((url: string | URL, init?: RequestInit) => undiciFetch(url as string, { ...(init as object), dispatcher })) as unknown as typeof fetch;
}

async function jwkWithCertificate(cert: IssuedCertificate): Promise<JWK> {
  const jwk = await exportJWK(cert.keys.publicKey);
  return { ...jwk, x5c: [new X509Certificate(cert.certificatePem).raw.toString('base64')] };
}

interface Setup {
  gh: TestGatehouse;
  clients: { pki: string; selfSigned: string; public: string };
  close(): Promise<void>;
}

/** A Gatehouse with the test CA trusted for tls_client_auth, an API, and one client per RFC 8705 method, registered dynamically. */
async function bootstrap(pki: Pki, env: Record<string, string>): Promise<Setup> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gh-mtls-'));
  await writeFile(path.join(tmp, 'ca.pem'), pki.ca.certificatePem);
  const gh = await startTestGatehouse({ env: { GATEHOUSE_MTLS_CA_FILE: path.join(tmp, 'ca.pem'), ...env } });
  const register = async (iat: string, metadata: Record<string, unknown>): Promise<string> => {
    const response = await fetch(`${gh.issuer}/reg`, { method: 'POST', headers: { authorization: `Bearer ${iat}`, 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(body)).toBe(201);
    expect(body.client_secret).toBeUndefined();
    return String(body.client_id);
  };
  await gh.app.services.resources.add(operator, { rbac: false, audience: api, name: 'API', scopes: ['read'], accessTokenTtl: 300 });
  await gh.app.services.registrationPolicies.set(operator, 'mtls', {
    grantTypes: ['client_credentials', 'authorization_code', 'refresh_token'],
    authMethods: ['tls_client_auth', 'self_signed_tls_client_auth', 'none'],
    defaultAuthMethod: 'tls_client_auth',
    resources: [api],
  });
  const { value: iat } = await gh.app.services.initialAccessTokens.create(operator, { expiresInSeconds: 600, policy: 'mtls', maxUses: 3 });
  const service = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [], tls_client_certificate_bound_access_tokens: true };
  const clients = {
    pki: await register(iat, { ...service, client_name: 'PKI worker', token_endpoint_auth_method: 'tls_client_auth', tls_client_auth_subject_dn: 'cn=billing-worker, o=Example Corp' }),
    selfSigned: await register(iat, { ...service, client_name: 'Self-signed worker', token_endpoint_auth_method: 'self_signed_tls_client_auth', jwks: { keys: [await jwkWithCertificate(pki.selfSigned)] } }),
    public: await register(iat, {
      client_name: 'Native app', token_endpoint_auth_method: 'none', application_type: 'native', grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], redirect_uris: ['http://127.0.0.1/callback'], tls_client_certificate_bound_access_tokens: true,
    }),
  };
  return {
    gh,
    clients,
    async close() {
      await gh.close();
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

describe('mutual TLS (RFC 8705) on the mTLS listener', () => {
  let gh: TestGatehouse;
  let setup: Setup;
  let pki: Pki;
  let devCa: string;
  let clients: Setup['clients'];

  async function rp(clientId: string, cert: IssuedCertificate | undefined, method: oidc.ClientAuth = oidc.TlsClientAuth()) {
    const config = await oidc.discovery(new URL(gh.issuer), clientId, { use_mtls_endpoint_aliases: true }, method, { execute: [oidc.allowInsecureRequests] });
    config[oidc.customFetch] = mtlsFetch(devCa, cert) as never;
    return config;
  }

  const rawToken = (clientId: string, cert: IssuedCertificate | undefined) =>
    mtlsFetch(devCa, cert)(`${gh.app.mtlsUrl}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource: api }).toString(),
    });

  beforeAll(async () => {
    pki = await createPki();
    setup = await bootstrap(pki, { GATEHOUSE_MTLS_PORT: '0' });
    ({ gh, clients } = setup);
    devCa = await readFile(path.join(gh.database.dataDir, 'tls', 'dev-ca.pem'), 'utf8');
  });
  afterAll(() => setup?.close());

  it('advertises the mTLS endpoint aliases and methods in discovery', async () => {
    const discovery = (await (await fetch(`${gh.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const port = new URL(gh.app.mtlsUrl!).port;
    expect(discovery.mtls_endpoint_aliases).toEqual({
      token_endpoint: `https://localhost:${port}/token`,
      introspection_endpoint: `https://localhost:${port}/token/introspection`,
      revocation_endpoint: `https://localhost:${port}/token/revocation`,
      userinfo_endpoint: `https://localhost:${port}/me`,
      pushed_authorization_request_endpoint: `https://localhost:${port}/request`,
      // RFC 8705 §5: a confidential device client authenticates at the device authorization endpoint too.
      device_authorization_endpoint: `https://localhost:${port}/device/auth`,
    });
    expect(discovery.tls_client_certificate_bound_access_tokens).toBe(true);
    expect(discovery.claim_types_supported).toEqual(['normal']);
  });

  it('authenticates tls_client_auth by CA and subject DN and binds the token to the certificate', async () => {
    const config = await rp(clients.pki, pki.worker);
    const tokens = await oidc.clientCredentialsGrant(config, { resource: api });
    const claims = decodeJwt(tokens.access_token);
    expect((claims.cnf as Record<string, string>)['x5t#S256']).toBe(thumbprint(pki.worker.certificatePem));
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    // JWT access tokens are verified by the API itself; introspection (RFC 7662) describes opaque ones.
    const opaque = await oidc.clientCredentialsGrant(config);
    const introspected = await oidc.tokenIntrospection(config, opaque.access_token);
    expect(introspected.active).toBe(true);
    expect(introspected.cnf).toEqual({ 'x5t#S256': thumbprint(pki.worker.certificatePem) });
  });

  it('authenticates self_signed_tls_client_auth by the certificate in the registered JWKS', async () => {
    const config = await rp(clients.selfSigned, pki.selfSigned, oidc.TlsClientAuth());
    const tokens = await oidc.clientCredentialsGrant(config, { resource: api });
    expect((decodeJwt(tokens.access_token).cnf as Record<string, string>)['x5t#S256']).toBe(thumbprint(pki.selfSigned.certificatePem));
  });

  it('refuses each wrong certificate with 401 invalid_client', async () => {
    const cases: Array<[string, string, IssuedCertificate | undefined]> = [
      ['no certificate', clients.pki, undefined],
      ['same subject, another CA', clients.pki, pki.otherCaWorker],
      ['right CA, wrong subject', clients.pki, pki.wrongSubject],
      ['expired certificate', clients.pki, pki.expired],
      ['self-signed certificate for a PKI client', clients.pki, pki.selfSigned],
      ['unregistered self-signed certificate', clients.selfSigned, pki.strangerSelfSigned],
      ['CA-issued certificate for a self-signed client', clients.selfSigned, pki.worker],
      ['no certificate for a self-signed client', clients.selfSigned, undefined],
    ];
    for (const [name, clientId, cert] of cases) {
      const response = await rawToken(clientId, cert);
      const body = (await response.json()) as Record<string, string>;
      expect(response.status, name).toBe(401);
      expect(body.error, name).toBe('invalid_client');
    }
  });

  it('refuses TLS renegotiation, so a connection cannot swap the certificate its requests were checked with', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: Number(new URL(gh.app.mtlsUrl!).port), ca: devCa, servername: 'localhost', cert: pki.worker.certificatePem, key: pki.worker.privateKeyPem, maxVersion: 'TLSv1.2' });
    try {
      await once(socket, 'secureConnect');
      // Allowed, the renegotiation would succeed quietly and the request be answered; refused, the server ends the connection.
      const outcome = new Promise<string>((resolve) => {
        socket.once('error', (error) => resolve(`error: ${error.message}`));
        socket.once('data', (data: Buffer) => resolve(`answered: ${data.toString('latin1').split('\r\n')[0]}`));
        setTimeout(() => resolve('nothing within 5 s'), 5000).unref();
      });
      socket.renegotiate({ rejectUnauthorized: false }, () => undefined);
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
      expect(await outcome).toMatch(/^error: /);
    } finally {
      socket.destroy();
    }
  });

  it('checks each client on a kept-alive connection by its own registration', async () => {
    // One connection, one certificate: the PKI client is accepted and a self-signed client refused, request after request.
    const fetchOne = mtlsFetch(devCa, pki.worker);
    for (let i = 0; i < 3; i += 1) {
      for (const [clientId, status] of [[clients.pki, 200], [clients.selfSigned, 401]] as const) {
        const response = await fetchOne(`${gh.app.mtlsUrl}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource: api }).toString(),
        });
        await response.arrayBuffer();
        expect(response.status).toBe(status);
      }
    }
  });

  it('does not accept a certificate on the main (non-TLS) listener', async () => {
    const response = await fetch(`${gh.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clients.pki, resource: api }),
    });
    expect(response.status).toBe(401);
  });

  it('keeps a public client\'s tokens bound across refresh over mTLS', async () => {
    const config = await rp(clients.public, pki.selfSigned, oidc.None());
    const user = await gh.createUser();
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1/callback', scope: 'openid offline_access', prompt: 'consent', resource: api,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 's',
    });
    const callback = new URL(await signInThroughPages(new UserAgent(), gh.issuer, url.href, user));
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: 's' });
    const bound = thumbprint(pki.selfSigned.certificatePem);
    expect((decodeJwt(tokens.access_token).cnf as Record<string, string>)['x5t#S256']).toBe(bound);
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect((decodeJwt(refreshed.access_token).cnf as Record<string, string>)['x5t#S256']).toBe(bound);
    // The refresh token itself is bound: presented with another certificate, it is refused.
    const stolen = await rp(clients.public, pki.strangerSelfSigned, oidc.None());
    await expect(oidc.refreshTokenGrant(stolen, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('lets the example API accept a bound token only with the same certificate', async () => {
    const apiCa = await createCertificateAuthority('CN=API CA');
    const apiCert = await issueCertificate({ subject: 'CN=localhost', usage: 'server', issuer: apiCa, altNames: { dns: ['localhost'], ip: ['127.0.0.1'] } });
    const server = await listen({ issuer: gh.issuer, audience: api, tls: { key: apiCert.privateKeyPem, cert: apiCert.certificatePem } });
    try {
      const token = (await oidc.clientCredentialsGrant(await rp(clients.pki, pki.worker), { resource: api })).access_token;
      const call = (cert: IssuedCertificate | undefined) => mtlsFetch(apiCa.certificatePem, cert)(server.url, { headers: { authorization: `Bearer ${token}` } });
      const ok = await call(pki.worker);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ ok: true, client_id: clients.pki });
      for (const cert of [pki.wrongSubject, pki.selfSigned, undefined]) {
        const refused = await call(cert);
        expect(refused.status).toBe(401);
        expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
      }
    } finally {
      server.server.close();
    }
  });
});

describe('mutual TLS behind a proxy (certificate in a header)', () => {
  let pki: Pki;
  let trusted: Setup;
  let untrusted: Setup;
  const der = (cert: IssuedCertificate) => new X509Certificate(cert.certificatePem).raw.toString('base64');
  const headerEnv = { GATEHOUSE_MTLS_PORT: 'off', GATEHOUSE_MTLS_PROXY_HEADER: 'Client-Cert', GATEHOUSE_MTLS_ORIGIN: 'https://mtls.id.example.test', GATEHOUSE_TRUST_PROXY: 'true' };

  beforeAll(async () => {
    pki = await createPki();
    [trusted, untrusted] = await Promise.all([
      bootstrap(pki, { ...headerEnv, GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1/32,::1' }),
      // Loopback is not a proxy here: the same header is someone claiming a certificate.
      bootstrap(pki, { ...headerEnv, GATEHOUSE_TRUSTED_PROXIES: '192.0.2.10' }),
    ]);
  });
  afterAll(async () => Promise.all([trusted?.close(), untrusted?.close()]));

  const token = (setup: Setup, clientId: string, header: string | undefined) =>
    fetch(`${setup.gh.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(header ? { 'client-cert': header } : {}) },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource: api }),
    });

  it('advertises the proxy\'s mTLS origin', async () => {
    const discovery = (await (await fetch(`${trusted.gh.issuer}/.well-known/openid-configuration`)).json()) as { mtls_endpoint_aliases: Record<string, string> };
    expect(discovery.mtls_endpoint_aliases.token_endpoint).toBe('https://mtls.id.example.test/token');
  });

  it('takes the certificate from a trusted proxy, in RFC 9440 and nginx form, and binds the token to it', async () => {
    for (const header of [`:${der(pki.worker)}:`, encodeURIComponent(pki.worker.certificatePem)]) {
      const response = await token(trusted, trusted.clients.pki, header);
      const body = (await response.json()) as { access_token: string };
      expect(response.status, JSON.stringify(body)).toBe(200);
      expect((decodeJwt(body.access_token).cnf as Record<string, string>)['x5t#S256']).toBe(thumbprint(pki.worker.certificatePem));
    }
    expect((await token(trusted, trusted.clients.pki, `:${der(pki.wrongSubject)}:`)).status).toBe(401);
    expect((await token(trusted, trusted.clients.pki, ':bm90IGEgY2VydA==:')).status).toBe(401);
    expect((await token(trusted, trusted.clients.pki, undefined)).status).toBe(401);
  });

  it('ignores a certificate header from an untrusted address, logs it and counts it', async () => {
    const response = await token(untrusted, untrusted.clients.pki, `:${der(pki.worker)}:`);
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
    expect(untrusted.gh.logs.some((l) => l.includes('client certificate header from an untrusted peer ignored'))).toBe(true);
    expect(untrusted.gh.app.metrics.registry.getSingleMetric('gatehouse_client_certificate_header_rejected_total')).toBeDefined();
    const metrics = await untrusted.gh.app.metrics.registry.metrics();
    expect(metrics).toMatch(/^gatehouse_client_certificate_header_rejected_total [1-9]/m);
  });
});

describe('gatehouse clients add for mTLS clients', () => {
  it('creates tls_client_auth and self-signed clients with bound tokens, without a secret, and the listener accepts them', { timeout: 180_000 }, async () => {
    const pki = await createPki();
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'gh-mtls-cli-'));
    await writeFile(path.join(tmp, 'ca.pem'), pki.ca.certificatePem);
    await writeFile(path.join(tmp, 'device.pem'), pki.selfSigned.certificatePem);
    const database = await freshDatabase(integrationDbKind());
    try {
      const add = (args: string[]) => cli(database, ['clients', 'add', '--type', 'service', '--json', '--bound-tokens', ...args]);
      const pkiClient = await add(['--name', 'Partner', '--auth-method', 'tls_client_auth', '--tls-subject-dn', 'CN=billing-worker,O=Example Corp']);
      expect(pkiClient.code, pkiClient.stderr).toBe(0);
      const device = await add(['--name', 'Device', '--auth-method', 'self_signed_tls_client_auth', '--certificate', path.join(tmp, 'device.pem')]);
      expect(device.code, device.stderr).toBe(0);
      const [pkiJson, deviceJson] = [pkiClient, device].map((r) => JSON.parse(r.stdout) as { client_id: string; client_secret: string | null });
      expect(pkiJson!.client_secret).toBeNull();
      expect(deviceJson!.client_secret).toBeNull();

      const missing = await add(['--name', 'X', '--auth-method', 'tls_client_auth']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/exactly one of a subject DN or a subject alternative name/);
      const two = await add(['--name', 'X', '--auth-method', 'tls_client_auth', '--tls-san-dns', 'a.example', '--tls-san-ip', '192.0.2.1']);
      expect(two.code).toBe(1);
      const notPem = await add(['--name', 'X', '--auth-method', 'self_signed_tls_client_auth', '--certificate', path.join(tmp, 'ca.pem.missing')]);
      expect(notPem.code).toBe(1);

      const gh = await startTestGatehouse({ database, env: { GATEHOUSE_MTLS_PORT: '0', GATEHOUSE_MTLS_CA_FILE: path.join(tmp, 'ca.pem') } });
      try {
        const devCa = await readFile(path.join(database.dataDir, 'tls', 'dev-ca.pem'), 'utf8');
        for (const [clientId, cert] of [[pkiJson!.client_id, pki.worker], [deviceJson!.client_id, pki.selfSigned]] as const) {
          const response = await mtlsFetch(devCa, cert)(`${gh.app.mtlsUrl}/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId }).toString(),
          });
          expect(response.status).toBe(200);
          const { access_token: token } = (await response.json()) as { access_token: string };
          const info = await gh.app.services.artifacts.find('ClientCredentials', token);
          expect(info?.['x5t#S256']).toBe(thumbprint(cert.certificatePem));
        }
      } finally {
        await gh.close();
      }
    } finally {
      await database.cleanup();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe('mutual TLS terminated by a real nginx in front (header mode)', () => {
  let pki: Pki;
  let setup: Setup;
  let proxy: Nginx;
  let proxyTls: ProxyTls;
  let origin: string;

  beforeAll(async () => {
    pki = await createPki();
    const port = await freePort();
    origin = `https://localhost:${port}`;
    setup = await bootstrap(pki, {
      GATEHOUSE_MTLS_PORT: 'off',
      GATEHOUSE_MTLS_PROXY_HEADER: 'x-ssl-client-cert',
      GATEHOUSE_MTLS_ORIGIN: origin,
      GATEHOUSE_TRUST_PROXY: 'true',
      GATEHOUSE_TRUSTED_PROXIES: '127.0.0.1/32',
    });
    proxyTls = await createProxyTls({ hostnames: ['localhost'] });
    const upstream = new URL(setup.gh.app.url);
    // The shipped docker/nginx/gatehouse.conf mTLS server, pointed at this test's node.
    proxy = await startNginx({
      config: `server {
        listen 127.0.0.1:${port} ssl;
        server_name localhost;
        ssl_certificate ${proxyTls.certFile};
        ssl_certificate_key ${proxyTls.keyFile};
        ssl_verify_client optional_no_ca;
        location / {
          proxy_pass http://127.0.0.1:${upstream.port};
          proxy_set_header Host $host;
          proxy_set_header X-Forwarded-Proto https;
          proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
          proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
        }
      }`,
    });
  });
  afterAll(async () => {
    await proxy?.stop();
    await setup?.close();
    await proxyTls?.remove();
  });

  const viaProxy = async (clientId: string, cert: IssuedCertificate | undefined, headers: Record<string, string> = {}) =>
    mtlsFetch(proxyTls.caPem, cert)(`${origin}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, resource: api }).toString(),
    });

  it('issues certificate-bound tokens through nginx with openid-client, for both methods', async () => {
    const ca = proxyTls.caPem;
    for (const [clientId, cert] of [[setup.clients.pki, pki.worker], [setup.clients.selfSigned, pki.selfSigned]] as const) {
      const config = await oidc.discovery(new URL(setup.gh.issuer), clientId, { use_mtls_endpoint_aliases: true }, oidc.TlsClientAuth(), { execute: [oidc.allowInsecureRequests] });
      config[oidc.customFetch] = mtlsFetch(ca, cert) as never;
      const tokens = await oidc.clientCredentialsGrant(config, { resource: api });
      expect((decodeJwt(tokens.access_token).cnf as Record<string, string>)['x5t#S256']).toBe(thumbprint(cert.certificatePem));
    }
  });

  it('refuses a wrong subject, a missing certificate and a certificate header forged by the client', async () => {
    expect((await viaProxy(setup.clients.pki, pki.wrongSubject)).status).toBe(401);
    expect((await viaProxy(setup.clients.pki, pki.otherCaWorker)).status).toBe(401);
    expect((await viaProxy(setup.clients.pki, undefined)).status).toBe(401);
    // nginx replaces the client's own X-SSL-Client-Cert: claiming a certificate without holding its key gets nothing.
    const forged = await viaProxy(setup.clients.pki, undefined, { 'x-ssl-client-cert': encodeURIComponent(pki.worker.certificatePem) });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: string }).error).toBe('invalid_client');
  });
});
