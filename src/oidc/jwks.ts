import type { Context, Next } from 'koa';

import type { KeySet } from '../keys/keystore.js';

/**
 * /jwks from memory, for the provider built with this key set. Served here
 * rather than by the library so the public keys carry no `key_ops` next to
 * `use` (RFC 7517 §4.3) and the response has a short, configured max-age.
 */
export function jwksRoute(keys: KeySet, maxAgeSeconds: number) {
  const body = JSON.stringify(keys.publicJwks);
  return async function jwksMiddleware(ctx: Context, next: Next) {
    // Dispatched for the jwks route (src/http/own-routes.ts), whatever case the path was written in.
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    ctx.set('Cache-Control', `public, max-age=${maxAgeSeconds}`);
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.type = 'application/jwk-set+json; charset=utf-8';
    ctx.body = body;
  };
}
