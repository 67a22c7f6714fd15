/**
 * /console (issue 16): the admin console, served from this origin only.
 *
 *   GET  /console/            the shell page (signed in) or 303 to /console/login
 *   GET  /console/login       to the authorization endpoint (src/console/sign-in.ts)
 *   GET  /console/callback    code redemption, admin + second-factor check, session
 *   POST /console/logout      ends the console session (CSRF token)
 *   GET  /console/signed-out  a plain page
 *   GET  /console/static/…    the front end and its libraries, from node_modules
 *   *    /console/api/…       the admin API (/admin/v1/…) with the session's token:
 *                             the same router, authorisation and audit as any caller
 *
 * Every write through /console/api needs the session's CSRF token in
 * X-CSRF-Token besides the SameSite=Strict cookie; the answer of the admin
 * API passes through unchanged (a 401 step-up challenge makes the page sign
 * in again with prompt=login).
 */
import type { Context, Middleware, Next } from 'koa';

import type { ConsoleSessions } from '../console-sessions/console-sessions.js';
import { AdminProblem, sendProblem } from '../admin/problem.js';
import { contentSecurityPolicy } from '../http/headers.js';
import type { Views } from '../http/views.js';
import { PageError } from '../interactions/pages.js';
import { consoleAssets } from './assets.js';
import { clearCookie, readCookie, sessionCookie } from './cookies.js';
import { consoleSignIn, type SignInDeps } from './sign-in.js';

/** The pages' policy, whose `connect-src 'self'` lets the console call /console/api: still no inline script or style. */
export const consoleCsp = contentSecurityPolicy();

export interface ConsoleDeps extends Omit<SignInDeps, 'render'> {
  sessions: ConsoleSessions;
  views: Views;
  /** The admin API's router (src/admin/router.ts). */
  admin: Middleware;
}

const sessionProblem = 'urn:gatehouse:problem:console-session';

export function consoleRoutes(deps: ConsoleDeps): Middleware {
  const render = (ctx: Context, template: string, data: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', consoleCsp);
    ctx.body = deps.views.render(template, data);
  };
  const signIn = consoleSignIn({ ...deps, render });
  const assets = consoleAssets();

  const session = async (ctx: Context) => {
    const id = readCookie(ctx, sessionCookie);
    return id ? deps.sessions.find(id) : undefined;
  };

  async function api(ctx: Context, next: Next, rest: string): Promise<void> {
    const current = await session(ctx);
    if (!current) {
      return sendProblem(ctx, new AdminProblem(401, 'The console session has ended: sign in again.', { type: sessionProblem }));
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && !deps.sessions.csrfMatches(current, ctx.get('X-CSRF-Token') || undefined)) {
      return sendProblem(ctx, new AdminProblem(403, 'This request lacks the console\'s CSRF token.', { type: 'urn:gatehouse:problem:csrf' }));
    }
    // The admin API's own pipeline, with the operator's token as its bearer: nothing is decided here.
    ctx.path = `/admin/v1${rest}`;
    ctx.req.headers.authorization = `Bearer ${current.accessToken}`;
    await deps.admin(ctx, next);
  }

  return async function consoleRoute(ctx, next) {
    const path = ctx.path;
    if (path.startsWith('/console/api/')) return api(ctx, next, path.slice('/console/api'.length));
    if (path.startsWith('/console/static/')) return assets(ctx, next);
    const get = ctx.method === 'GET' || ctx.method === 'HEAD';
    switch (path) {
      case '/console':
      case '/console/': {
        if (!get) break;
        const current = await session(ctx);
        if (!current) {
          ctx.status = 303;
          return ctx.redirect('/console/login');
        }
        return render(ctx, 'console.njk', { csrf: current.csrf });
      }
      case '/console/login':
        if (get) return signIn.login(ctx);
        break;
      case '/console/callback':
        if (get) return signIn.callback(ctx);
        break;
      case '/console/signed-out':
        if (get) return render(ctx, 'console-signed-out.njk', {});
        break;
      case '/console/logout': {
        if (ctx.method !== 'POST') break;
        const current = await session(ctx);
        if (current && !deps.sessions.csrfMatches(current, ctx.get('X-CSRF-Token') || undefined)) throw new PageError(403, 'This request lacks the console\'s CSRF token.');
        const id = readCookie(ctx, sessionCookie);
        if (id) await deps.sessions.end(id);
        clearCookie(ctx, sessionCookie);
        ctx.status = 204;
        return;
      }
      default:
        throw new PageError(404, 'There is no such console page.');
    }
    ctx.set('Allow', path === '/console/logout' ? 'POST' : 'GET, HEAD');
    throw new PageError(405, 'This page does not accept that kind of request.');
  };
}
