/**
 * A relying party's back-channel logout endpoint on a loopback port: it
 * verifies every logout token as OpenID Connect Back-Channel Logout 1.0 §2.6
 * tells a relying party to (signature against the issuer's JWKS, iss, aud,
 * iat, exp, jti, the `events` member, sub and/or sid, no nonce, typ
 * logout+jwt), and answers with a status the test chooses, to drive retries.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface LogoutToken extends JWTPayload {
  sub?: string;
  sid?: string;
  events: Record<string, unknown>;
}

export interface Receiver {
  uri: string;
  /** Verified logout tokens, oldest first. */
  readonly tokens: LogoutToken[];
  /** Requests whose token failed verification, with the reason. */
  readonly rejected: string[];
  /** Statuses to answer the next requests with (then 200). */
  failNext(...statuses: number[]): void;
  /** Resolves once `count` tokens have been verified in all. */
  waitFor(count: number, timeoutMs?: number): Promise<LogoutToken[]>;
  close(): Promise<void>;
}

const logoutEvent = 'http://schemas.openid.net/event/backchannel-logout';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startReceiver(issuer: string, clientId: () => string): Promise<Receiver> {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const tokens: LogoutToken[] = [];
  const rejected: string[] = [];
  const failures: number[] = [];
  const seenJti = new Set<string>();

  async function verify(value: string): Promise<LogoutToken> {
    const { payload, protectedHeader } = await jwtVerify(value, jwks, { issuer, audience: clientId(), requiredClaims: ['iat', 'exp', 'jti'] });
    if (protectedHeader.typ !== 'logout+jwt') throw new Error(`typ ${protectedHeader.typ}`);
    const token = payload as LogoutToken;
    const events = token.events as Record<string, unknown> | undefined;
    if (!events || typeof events[logoutEvent] !== 'object') throw new Error('no backchannel-logout event');
    if ('nonce' in token) throw new Error('a logout token must not carry a nonce (§2.4)');
    if (!token.sub && !token.sid) throw new Error('neither sub nor sid');
    if (seenJti.has(token.jti!)) throw new Error('jti replayed');
    seenJti.add(token.jti!);
    return token;
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const body = new URLSearchParams(await readBody(req));
    const failure = failures.shift();
    if (failure !== undefined) {
      res.writeHead(failure).end();
      return;
    }
    try {
      if (req.method !== 'POST' || !req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) throw new Error('not a form POST');
      tokens.push(await verify(body.get('logout_token') ?? ''));
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
    } catch (error) {
      rejected.push(error instanceof Error ? error.message : String(error));
      res.writeHead(400).end();
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/backchannel-logout`,
    tokens,
    rejected,
    failNext: (...statuses) => failures.push(...statuses),
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (tokens.length < count) {
        if (Date.now() > deadline) throw new Error(`only ${tokens.length} of ${count} logout tokens arrived (rejected: ${rejected.join('; ')})`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return tokens;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
