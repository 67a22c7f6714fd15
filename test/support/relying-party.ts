/**
 * A small but real relying party for tests: an HTTP server on a free loopback
 * port that owns the redirect URI (and a post-logout URI), driven by
 * openid-client exactly as a production RP would be: discovery, PKCE (S256),
 * state and nonce checks, ID token validation, userinfo, refresh, logout.
 *
 * Usage:
 *   const rp = await startRelyingParty({
 *     issuer: gatehouse.issuer,
 *     register: (uris) => gatehouse.createClient({ type: 'confidential', name: 'App', redirectUris: [uris.redirectUri] }),
 *   });
 *   const login = await rp.beginLogin({ scope: 'openid email' });
 *   // ... a browser (or fetch) follows login.url until it reaches rp.redirectUri ...
 *   const { tokens, claims } = await rp.finishLogin(callbackUrl);
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import * as client from 'openid-client';

export interface RelyingPartyUris {
  /** `http://127.0.0.1:<port>/callback` */
  redirectUri: string;
  /** `http://127.0.0.1:<port>/logged-out` */
  postLogoutRedirectUri: string;
}

export interface RelyingPartyOptions {
  issuer: string;
  /** Registers the client at the OP once the RP knows its URIs (e.g. with TestGatehouse.createClient). */
  register(uris: RelyingPartyUris): Promise<{ clientId: string; clientSecret?: string | undefined }>;
  /** How a confidential client authenticates at the token endpoint; must match its registration. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
}

export interface PendingLogin {
  /** The authorization request to open in a browser. */
  url: string;
  verifier: string;
  state: string;
  nonce: string;
}

export type TokenSet = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

export interface LoginResult {
  tokens: TokenSet;
  /** The validated ID token claims. */
  claims: client.IDToken;
}

export interface RelyingParty extends RelyingPartyUris {
  clientId: string;
  /** The openid-client configuration, for calls this wrapper does not cover. */
  config: client.Configuration;
  /** Every request that reached /callback, oldest first. */
  readonly callbacks: readonly URL[];
  /** Every request that reached /logged-out, oldest first. */
  readonly logouts: readonly URL[];
  isCallback(url: string | URL): boolean;
  isPostLogout(url: string | URL): boolean;
  /** Resolves with the next request to /callback (one already received and not yet awaited counts). */
  nextCallback(timeoutMs?: number): Promise<URL>;
  beginLogin(options?: { scope?: string; extraParams?: Record<string, string> }): Promise<PendingLogin>;
  /**
   * Completes the login begun with the `state` the callback carries: checks the
   * authorization response (iss, state, error), redeems the code with the PKCE
   * verifier and validates the ID token (signature, iss, aud, nonce, exp).
   * Rejects with openid-client's AuthorizationResponseError when the callback
   * carries an error (its `.error` is e.g. 'access_denied').
   */
  finishLogin(callbackUrl: string | URL): Promise<LoginResult>;
  userinfo(accessToken: string, expectedSubject: string): Promise<client.UserInfoResponse>;
  refresh(refreshToken: string): Promise<TokenSet>;
  endSessionUrl(params?: Record<string, string>): string;
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startRelyingParty(options: RelyingPartyOptions): Promise<RelyingParty> {
  const callbacks: URL[] = [];
  const logouts: URL[] = [];
  let unclaimed: URL[] = [];
  const waiters: Array<(url: URL) => void> = [];
  let origin = '';

  function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', origin);
    const reply = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET') return reply(405, 'method not allowed');
    if (url.pathname === '/callback') {
      callbacks.push(url);
      const waiter = waiters.shift();
      if (waiter) waiter(url);
      else unclaimed.push(url);
      return reply(200, 'done');
    }
    if (url.pathname === '/logged-out') {
      logouts.push(url);
      return reply(200, 'signed out');
    }
    if (url.pathname === '/favicon.ico') {
      // Browsers ask for it after every page load; a 404 would show up as a console error.
      res.writeHead(204, { 'cache-control': 'max-age=3600' });
      return res.end();
    }
    return reply(404, 'not found');
  }

  const server = createServer(handle);
  const port = await listen(server);
  origin = `http://127.0.0.1:${port}`;
  const uris: RelyingPartyUris = { redirectUri: `${origin}/callback`, postLogoutRedirectUri: `${origin}/logged-out` };

  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Browsers keep connections alive; do not wait for them to time out.
      server.closeAllConnections();
    });

  let config: client.Configuration;
  let clientId: string;
  try {
    const registered = await options.register(uris);
    clientId = registered.clientId;
    const secret = registered.clientSecret;
    const auth = secret === undefined
      ? client.None()
      : options.authMethod === 'client_secret_post' ? client.ClientSecretPost(secret) : client.ClientSecretBasic(secret);
    // Loopback http issuer in tests; openid-client refuses http without this.
    config = await client.discovery(new URL(options.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
  } catch (error) {
    await close();
    throw error;
  }

  const pending = new Map<string, PendingLogin>();
  const sameEndpoint = (url: string | URL, target: string) => {
    const u = new URL(url);
    return `${u.origin}${u.pathname}` === target;
  };
  const isCallback = (url: string | URL) => sameEndpoint(url, uris.redirectUri);

  return {
    ...uris,
    clientId,
    config,
    callbacks,
    logouts,
    isCallback,
    isPostLogout: (url) => sameEndpoint(url, uris.postLogoutRedirectUri),

    nextCallback(timeoutMs = 10_000) {
      const ready = unclaimed.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no request reached ${uris.redirectUri} within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (url: URL) => {
          clearTimeout(timer);
          resolve(url);
        };
        waiters.push(waiter);
      });
    },

    async beginLogin({ scope = 'openid', extraParams = {} } = {}) {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: uris.redirectUri,
        response_type: 'code',
        scope,
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        ...extraParams,
      });
      const login = { url: url.href, verifier, state, nonce };
      pending.set(state, login);
      return login;
    },

    async finishLogin(callbackUrl) {
      const url = new URL(callbackUrl);
      if (!isCallback(url)) throw new Error(`not this RP's redirect URI: ${url.origin}${url.pathname}`);
      const state = url.searchParams.get('state');
      const login = state ? pending.get(state) : undefined;
      if (!login) throw new Error(`callback carries no state this RP issued (state=${JSON.stringify(state)})`);
      pending.delete(login.state);
      const tokens = await client.authorizationCodeGrant(config, url, {
        pkceCodeVerifier: login.verifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      if (!claims) throw new Error('token response had no ID token');
      return { tokens, claims };
    },

    userinfo: (accessToken, expectedSubject) => client.fetchUserInfo(config, accessToken, expectedSubject),
    refresh: (refreshToken) => client.refreshTokenGrant(config, refreshToken),
    endSessionUrl: (params = {}) => client.buildEndSessionUrl(config, params).href,

    async close() {
      pending.clear();
      unclaimed = [];
      await close();
    },
  };
}
