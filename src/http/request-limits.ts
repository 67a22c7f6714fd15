/**
 * Size limits at the edge, before any parser or the library sees a request:
 * URL length, number and length of query parameters, and a body limit per
 * route class (checked against Content-Length, and while reading when the
 * body is chunked). Each refusal says what is wrong and echoes nothing.
 */
import type { Context } from 'koa';

import { HttpProblem } from './errors.js';

export const limits = {
  urlLength: 8192,
  queryParameters: 64,
  queryKeyLength: 128,
  /** Long enough for a `claims` parameter or an id_token_hint; `request` objects go through PAR. */
  queryValueLength: 4096,
} as const;

/** Body limits by path; oidc-provider's own parser stops at 56 KiB whatever we allow. */
export function bodyLimit(path: string): number {
  if (path === '/token' || path === '/token/introspection' || path === '/token/revocation' || path.startsWith('/session/end')) return 16 * 1024;
  if (path === '/request' || path === '/auth') return 32 * 1024;
  if (path === '/reg' || path.startsWith('/reg/')) return 48 * 1024;
  if (path.startsWith('/interaction/')) return 16 * 1024;
  // Admin API bodies: a client's PEM certificate is the largest field (src/admin/schemas.ts).
  if (path.startsWith('/admin/')) return 64 * 1024;
  return 16 * 1024;
}

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
  if (length !== undefined && length > bodyLimit(ctx.path)) throw tooLarge();
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
  const req = ctx.req as typeof ctx.req & { body?: unknown };
  if (Buffer.isBuffer(req.body)) return req.body;
  if (!ctx.is('application/x-www-form-urlencoded') || !req.readable) return undefined;
  const limit = bodyLimit(ctx.path);
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
