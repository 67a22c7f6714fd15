/**
 * Which budget a request spends, and whose. Paths are oidc-provider's default
 * routes (lib/helpers/defaults.js `routes`), which Gatehouse keeps.
 */
import { createHash } from 'node:crypto';
import { parse as parseQuery } from 'node:querystring';

import type { Context } from 'koa';

import type { RateLimitClass } from '../config/index.js';

export function endpointClass(ctx: Context): RateLimitClass | undefined {
  const path = ctx.path;
  if (path === '/token') return 'token';
  if (path === '/auth' || path === '/request' || path.startsWith('/session/end')) return 'authorization';
  if (path === '/token/introspection' || path === '/token/revocation' || path === '/me') return 'introspection';
  if (path === '/reg' || path.startsWith('/reg/')) return 'registration';
  if (path.startsWith('/interaction/')) return 'interaction';
  if (path.startsWith('/admin/')) return 'admin';
  return undefined;
}

/** Pages a person sees get a page when limited; everything else is an API and gets JSON. */
export function isPageRoute(ctx: Context): boolean {
  return ctx.path.startsWith('/interaction/') || ctx.path === '/auth' || ctx.path.startsWith('/session/end');
}

/** Where a client-authenticated POST may carry client_id in its body instead of an Authorization header. */
export function mayCarryClientInBody(ctx: Context): boolean {
  return ctx.method === 'POST' && (ctx.path === '/token' || ctx.path === '/token/introspection' || ctx.path === '/token/revocation' || ctx.path === '/request' || ctx.path === '/auth');
}

const plausibleClientId = /^[\x21-\x7e]{1,200}$/;

/** Client ids become counter keys (varchar(255) with a prefix): odd or long ones are hashed. */
function clientKey(clientId: unknown): string | undefined {
  if (typeof clientId !== 'string' || clientId.length === 0) return undefined;
  if (plausibleClientId.test(clientId)) return clientId;
  return `#${createHash('sha256').update(clientId).digest('base64url')}`;
}

function fromBasic(header: string): string | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    // RFC 6749 §2.3.1: the id is form-urlencoded before it is put in the header.
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20'));
  } catch {
    return undefined;
  }
}

/** The `sub` of a client assertion (RFC 7523 §3): read, not verified; the library verifies it. */
function fromAssertion(assertion: unknown): string | undefined {
  if (typeof assertion !== 'string' || assertion.length > 8192) return undefined;
  const payload = assertion.split('.')[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client a request claims to be, before anyone has checked: the Basic
 * user, or client_id (query or form body), or a client assertion's subject,
 * or the client a registration management URL names. Whether the claim holds
 * is settled after the request (see rate-limit.ts: points are given back when
 * it did not).
 */
export function claimedClient(ctx: Context, body: Buffer | undefined): string | undefined {
  if (ctx.path.startsWith('/reg/')) return clientKey(ctx.path.slice('/reg/'.length));
  const authorization = ctx.get('Authorization');
  if (authorization && /^Basic\s/i.test(authorization)) return clientKey(fromBasic(authorization));
  const query = ctx.query.client_id;
  if (typeof query === 'string') return clientKey(query);
  if (!body) return undefined;
  const form = parseQuery(body.toString('utf8'));
  if (typeof form.client_id === 'string') return clientKey(form.client_id);
  return clientKey(fromAssertion(form.client_assertion));
}

/** The same key for the client the library settled on, to compare with the claim. */
export function settledClient(ctx: Context): string | undefined {
  const oidc = (ctx as { oidc?: { client?: { clientId: string } } }).oidc;
  return clientKey(oidc?.client?.clientId);
}
