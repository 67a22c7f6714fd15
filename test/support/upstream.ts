/**
 * A small programmable OpenID provider on loopback, the upstream Gatehouse
 * federates to in tests: discovery, JWKS, an authorization endpoint that
 * answers at once for the user the test names, a token endpoint that checks
 * the client secret and the PKCE verifier, userinfo. Each authorization can be
 * told to misbehave (another `iss`, another audience, another nonce), so the
 * negative paths run against real signed answers.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface UpstreamUser {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  groups?: string[];
  amr?: string[];
}

export interface Misbehaviour {
  iss?: string;
  aud?: string;
  nonce?: string;
}

export interface TestUpstream {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who the next authorization signs in, and how it misbehaves. */
  next(user: UpstreamUser, misbehave?: Misbehaviour): void;
  /** Every authorization request received. */
  readonly authorizations: URLSearchParams[];
  /** How each token request authenticated: `client_secret_basic` or `private_key_jwt`. */
  readonly tokenAuth: string[];
  /** The `sid` of the last ID token issued. */
  readonly lastSid: string | undefined;
  /** The last ID token issued. */
  readonly lastIdToken: string | undefined;
  /** Every request to the end_session_endpoint (RP-initiated logout), which answers by redirecting to post_logout_redirect_uri with state. */
  readonly endSessions: URLSearchParams[];
  /** From now on the token endpoint takes private_key_jwt assertions verified with the keys at this JWKS URI (and still Basic). */
  acceptClientAssertions(jwksUri: string): void;
  /** A back-channel logout token signed with the upstream's key; `claims` override or (undefined) remove members; `key: 'other'` signs with a stranger's key. */
  logoutToken(claims: Record<string, unknown>, options?: { typ?: string; key?: 'other' }): Promise<string>;
  close(): Promise<void>;
}

interface Grant {
  user: UpstreamUser;
  misbehave: Misbehaviour;
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce: string;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += String(chunk);
  return body;
}

export async function startTestUpstream(): Promise<TestUpstream> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const clientId = `gatehouse-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(24).toString('base64url');
  const codes = new Map<string, Grant>();
  const tokens = new Map<string, UpstreamUser>();
  const authorizations: URLSearchParams[] = [];
  let pending: { user: UpstreamUser; misbehave: Misbehaviour } = { user: { sub: 'default-user' }, misbehave: {} };
  let issuer = '';
  const tokenAuth: string[] = [];
  let lastSid: string | undefined;
  let lastIdToken: string | undefined;
  const endSessions: URLSearchParams[] = [];
  let clientKeys: ReturnType<typeof createRemoteJWKSet> | undefined;
  const seenAssertions = new Set<string>();
  const stranger = (await generateKeyPair('ES256')).privateKey;

  const sign = (claims: Record<string, unknown>, key: CryptoKey) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('5m').sign(key);

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', issuer);
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.pathname === '/.well-known/openid-configuration') {
        return json(200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          userinfo_endpoint: `${issuer}/userinfo`,
          jwks_uri: `${issuer}/jwks`,
          end_session_endpoint: `${issuer}/logout`,
          response_types_supported: ['code'],
          code_challenge_methods_supported: ['S256'],
          id_token_signing_alg_values_supported: ['ES256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'private_key_jwt'],
          token_endpoint_auth_signing_alg_values_supported: ['ES256'],
          backchannel_logout_supported: true,
          backchannel_logout_session_supported: true,
          authorization_response_iss_parameter_supported: true,
        });
      }
      if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
      if (url.pathname === '/authorize') {
        authorizations.push(url.searchParams);
        const p = url.searchParams;
        if (p.get('client_id') !== clientId || p.get('code_challenge_method') !== 'S256' || !p.get('redirect_uri')) return json(400, { error: 'invalid_request' });
        const code = randomBytes(16).toString('base64url');
        codes.set(code, { ...pending, clientId, redirectUri: p.get('redirect_uri')!, challenge: p.get('code_challenge')!, nonce: p.get('nonce') ?? '' });
        const back = new URL(p.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', p.get('state') ?? '');
        back.searchParams.set('iss', pending.misbehave.iss ?? issuer);
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        if (form.get('client_assertion_type') === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
          // RFC 7523 §3: iss and sub the client id, aud the issuer, exp, a jti used once; signed by a key at the client's JWKS URI.
          if (!clientKeys) return json(401, { error: 'invalid_client' });
          try {
            const { payload } = await jwtVerify(form.get('client_assertion') ?? '', clientKeys, { issuer: clientId, subject: clientId, audience: [issuer, `${issuer}/token`], requiredClaims: ['exp', 'jti'] });
            if (seenAssertions.has(String(payload.jti))) return json(401, { error: 'invalid_client' });
            seenAssertions.add(String(payload.jti));
          } catch {
            return json(401, { error: 'invalid_client' });
          }
          tokenAuth.push('private_key_jwt');
        } else {
          const [id, secret] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':').map(decodeURIComponent);
          if (id !== clientId || secret !== clientSecret) return json(401, { error: 'invalid_client' });
          tokenAuth.push('client_secret_basic');
        }
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        if (!grant || grant.redirectUri !== form.get('redirect_uri') || createHash('sha256').update(verifier).digest('base64url') !== grant.challenge) return json(400, { error: 'invalid_grant' });
        const accessToken = randomBytes(16).toString('base64url');
        tokens.set(accessToken, grant.user);
        const { amr, ...profile } = grant.user;
        lastSid = randomBytes(8).toString('hex');
        const idToken = await sign({ iss: issuer, aud: grant.misbehave.aud ?? clientId, nonce: grant.misbehave.nonce ?? grant.nonce, sid: lastSid, ...profile, ...(amr ? { amr } : {}) }, privateKey);
        lastIdToken = idToken;
        return json(200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: idToken });
      }
      if (url.pathname === '/logout') {
        endSessions.push(url.searchParams);
        const back = url.searchParams.get('post_logout_redirect_uri');
        if (!back) return json(200, { signed_out: true });
        const to = new URL(back);
        const state = url.searchParams.get('state');
        if (state !== null) to.searchParams.set('state', state);
        res.writeHead(302, { location: to.href });
        return res.end();
      }
      if (url.pathname === '/userinfo') {
        const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''));
        if (!user) return json(401, { error: 'invalid_token' });
        const { amr: _amr, ...profile } = user;
        return json(200, profile);
      }
      json(404, { error: 'not_found' });
    })().catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    clientId,
    clientSecret,
    authorizations,
    tokenAuth,
    get lastSid() {
      return lastSid;
    },
    get lastIdToken() {
      return lastIdToken;
    },
    endSessions,
    acceptClientAssertions(jwksUri) {
      clientKeys = createRemoteJWKSet(new URL(jwksUri));
    },
    async logoutToken(claims, options = {}) {
      const all: Record<string, unknown> = { iss: issuer, aud: clientId, jti: randomBytes(12).toString('hex'), events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims };
      const body = Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
      const jwt = new SignJWT(body).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: options.typ ?? 'logout+jwt' });
      if (!('iat' in claims)) jwt.setIssuedAt();
      return jwt.sign(options.key === 'other' ? stranger : privateKey);
    },
    next(user, misbehave = {}) {
      pending = { user, misbehave };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
