/**
 * Size limits at the edge, before any parser or the library sees a request:
 * URL length, number and length of query parameters, and a body limit per
 * route (src/http/route-table.ts; checked against Content-Length, and while reading when the
 * body is chunked). Each refusal says what is wrong and echoes nothing.
 */
import type { Context } from 'koa';

import { HttpProblem } from './errors.js';
import { routeOf } from './route-table.js';
import { basicCredentialsUnstorable, isStorablePath, jsonBodyUnstorable, unstorableFormParameter } from './input-text.js';

export const limits = {
  urlLength: 8192,
  queryParameters: 64,
  queryKeyLength: 128,
  /** Long enough for a `claims` parameter or an id_token_hint; `request` objects go through PAR. */
  queryValueLength: 4096,
} as const;

const tooLarge = () => new HttpProblem(413, 'invalid_request', 'The request body is too large.');

/** Throws an HttpProblem for a request over a limit; called before any parser (src/http/edge.ts). */
export function checkRequestLimits(ctx: Context): void {
  if (ctx.originalUrl.length > limits.urlLength) throw new HttpProblem(414, 'invalid_request', 'The request URI is too long.');
  const search = ctx.querystring;
  if (search) {
    const pairs = search.split('&');
    if (pairs.length > limits.queryParameters) throw new HttpProblem(400, 'invalid_request', 'The request has too many query parameters.');
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      const keyLength = eq < 0 ? pair.length : eq;
      if (keyLength > limits.queryKeyLength || pair.length - keyLength - 1 > limits.queryValueLength) {
        throw new HttpProblem(400, 'invalid_request', 'A query parameter is too long.');
      }
    }
  }
  const length = ctx.request.length;
  if (length !== undefined && length > routeOf(ctx).bodyLimit) throw tooLarge();
}

/** Resolves when the stream has data to read or has ended; leaves no listener behind. */
function readableOrEnd(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('readable', done);
      stream.off('end', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('readable', done);
    stream.on('end', done);
    stream.on('error', done);
  });
}

/**
 * Reads a form body ahead of the library, for the rate limiter to see a
 * client_id there. With a Content-Length the bytes are read and put back
 * (`readable.unshift`), so oidc-provider reads the untouched stream as usual.
 * A chunked body cannot be put back before its end is seen; it is read whole
 * and handed over as `req.body`, which the library accepts in place of the
 * stream (it logs a one-time notice about upstream parsers when it does).
 */
export async function readBodyAhead(ctx: Context): Promise<Buffer | undefined> {
  const ahead = ctx.state.bodyAhead as Buffer | undefined;
  if (ahead) return ahead;
  const body = await readAhead(ctx);
  ctx.state.bodyAhead = body;
  return body;
}

/**
 * Hands the library `body` in place of the one the client sent (read ahead
 * first): what was put back into the stream is drained, and the library reads
 * `req.body` instead, as it does after a chunked body (see readBodyAhead).
 */
export async function replaceBodyAhead(ctx: Context, body: Buffer): Promise<void> {
  const req = ctx.req as typeof ctx.req & { body?: unknown };
  if (req.readable) {
    // Draining only: the bytes were read (and size-checked) by readBodyAhead.
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) void chunk;
  }
  req.body = body;
  ctx.state.bodyAhead = body;
}

async function readAhead(ctx: Context): Promise<Buffer | undefined> {
  const req = ctx.req as typeof ctx.req & { body?: unknown };
  if (Buffer.isBuffer(req.body)) return req.body;
  if (!ctx.is('application/x-www-form-urlencoded', 'application/json') || !req.readable) return undefined;
  const limit = routeOf(ctx).bodyLimit;
  const length = ctx.request.length;
  const chunks: Buffer[] = [];
  let received = 0;
  if (length !== undefined) {
    while (received < length) {
      const chunk = req.read() as Buffer | null;
      if (chunk === null) {
        if (req.readableEnded || req.destroyed) break;
        await readableOrEnd(req);
        continue;
      }
      chunks.push(chunk);
      received += chunk.length;
    }
    const body = Buffer.concat(chunks, received);
    // Not ours to judge a short or long body: the library's own reader reports the mismatch.
    if (!req.readableEnded) req.unshift(body);
    return body.subarray(0, Math.min(body.length, limit));
  }
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > limit) throw tooLarge();
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks, received);
  req.body = body;
  return body;
}

function isWellFormedHost(host: string): boolean {
  if (!host) return true; // HTTP/1.0 without Host: the listener's own address is used
  try {
    return new URL(`http://${host}/`).host !== '';
  } catch {
    return false;
  }
}

/** Endpoints where the client authenticates (RFC 6749 §2.3): bad credentials there are `invalid_client`. */
const clientAuthenticating = new Set(['/token', '/token/introspection', '/token/revocation', '/request']);
const credentialParameters = new Set(['client_id', 'client_secret', 'client_assertion', 'client_assertion_type']);

function unstorable(ctx: Context, clientCredentials: boolean, basic = false): HttpProblem {
  if (clientCredentials && clientAuthenticating.has(ctx.path)) {
    const headers: Record<string, string> = basic
      ? { 'WWW-Authenticate': `Basic realm="${String((ctx.app as { issuer?: string }).issuer ?? '').replace(/["\\]/g, '')}", error="invalid_client"` }
      : {};
    return new HttpProblem(401, 'invalid_client', 'Client authentication failed.', headers);
  }
  if (ctx.path === '/reg' || ctx.path.startsWith('/reg/')) {
    return new HttpProblem(400, 'invalid_client_metadata', 'The client metadata holds text that is not valid (a NUL character or broken Unicode).');
  }
  return new HttpProblem(400, 'invalid_request', 'The request holds text that is not valid (a NUL character, broken Unicode or broken percent-encoding).');
}

/**
 * Refuses a request carrying text nothing downstream can store (see
 * src/http/input-text.ts), before the rate limiter, a parser or the library
 * reads any of it: in the path, the query, Basic credentials, or a form or
 * JSON body. A body that declares a charset other than UTF-8 is refused too:
 * the library would decode it in that charset, past these checks.
 */
export async function checkRequestText(ctx: Context): Promise<void> {
  // A Host the URL parser refuses (port out of range, unclosed IPv6 bracket) made the library's URL building throw.
  if (!isWellFormedHost(ctx.get('Host'))) throw new HttpProblem(400, 'invalid_request', 'The Host header is not valid.');
  if (!isStorablePath(ctx.path)) throw unstorable(ctx, false);
  const query = ctx.querystring;
  if (query) {
    const bad = unstorableFormParameter(Buffer.from(query, 'latin1'));
    if (bad) throw unstorable(ctx, bad.name !== undefined && credentialParameters.has(bad.name));
  }
  const authorization = ctx.get('Authorization');
  if (authorization && basicCredentialsUnstorable(authorization)) throw unstorable(ctx, true, true);
  const type = ctx.is('application/x-www-form-urlencoded', 'application/json');
  if (!type || ctx.method === 'GET' || ctx.method === 'HEAD') return;
  const charset = ctx.request.charset;
  if (charset && !/^(utf-?8|us-ascii)$/i.test(charset)) throw new HttpProblem(415, 'invalid_request', 'Send the body in UTF-8.');
  const body = await readBodyAhead(ctx);
  if (!body || body.length === 0) return;
  if (type === 'application/json') {
    if (jsonBodyUnstorable(body)) throw unstorable(ctx, false);
    return;
  }
  const bad = unstorableFormParameter(body);
  if (bad) throw unstorable(ctx, bad.name !== undefined && credentialParameters.has(bad.name));
}
