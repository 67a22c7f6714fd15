/**
 * The two machine endpoints of upstream sign-in (issue 20): the public keys
 * Gatehouse authenticates to upstreams with (private_key_jwt; an upstream
 * registers this URL as the client's jwks_uri), and the back-channel logout
 * endpoint upstreams POST their logout tokens to (OpenID Connect Back-Channel
 * Logout 1.0 §2.5, §2.8: 200 when handled, 400 with an OAuth error body when
 * not, never cached).
 */
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';

import type { UpstreamLogout } from '../federation/logout.js';
import type { UpstreamSessionEnd } from '../federation/session-end.js';
import type { Views } from './views.js';
import type { UpstreamService } from '../federation/upstreams.js';

export function federationJwksRoute(upstreams: Pick<UpstreamService, 'jwks'>): Middleware {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/jwk-set+json';
    ctx.body = JSON.stringify(await upstreams.jwks());
  };
}

const parseForm = bodyParser({
  enableTypes: ['form'],
  formLimit: '16kb',
  onError: (_error, ctx) => {
    ctx.throw(400, 'invalid form body');
  },
});

export function upstreamBackchannelLogoutRoute(logout: Pick<UpstreamLogout, 'receive'>): Middleware {
  const refuse = (ctx: Context, status: number, error: string, description: string) => {
    ctx.status = status;
    ctx.type = 'application/json';
    ctx.body = { error, error_description: description };
  };
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST') return next();
    ctx.set('Cache-Control', 'no-store');
    if (!ctx.is('application/x-www-form-urlencoded')) return refuse(ctx, 400, 'invalid_request', 'the logout token is sent as a form (application/x-www-form-urlencoded)');
    try {
      await parseForm(ctx, async () => {});
    } catch {
      return refuse(ctx, 400, 'invalid_request', 'the form could not be read');
    }
    const token = (ctx.request.body as Record<string, unknown> | undefined)?.logout_token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 8192) return refuse(ctx, 400, 'invalid_request', 'logout_token is required');
    const result = await logout.receive(token);
    if (!result.ok) return refuse(ctx, 400, 'invalid_request', 'the logout token was not accepted');
    ctx.status = 200;
    ctx.body = '';
  };
}

/**
 * The upstream's logout sends the browser back here with the state Gatehouse gave it: on to where Gatehouse's own
 * logout was going (the relying party's post_logout_redirect_uri with its state). An unknown or used state: a plain
 * page, the user is signed out of Gatehouse either way.
 */
export function upstreamLogoutReturnRoute(service: Pick<UpstreamSessionEnd, 'returnFrom'>, views: Views): Middleware {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET') return next();
    ctx.set('Cache-Control', 'no-store');
    const state = ctx.query.state;
    const continueTo = typeof state === 'string' && state.length > 0 && state.length <= 100 ? await service.returnFrom(state) : undefined;
    if (continueTo) {
      ctx.status = 303;
      ctx.redirect(continueTo);
      return;
    }
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = views.render('logged-out.njk', {});
  };
}
