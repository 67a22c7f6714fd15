/**
 * The first-run page (/setup) and the start page (/). The setup link's token
 * arrives once in the query string and is moved straight into a cookie
 * scoped to /setup, so it is not left in the address bar, the history or a
 * screenshot; the request log never records query strings.
 */
import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';

import { contentSecurityPolicy } from '../http/headers.js';
import type { Views } from '../http/views.js';
import type { SetupService } from '../setup/setup.js';
import type { Csrf } from './csrf.js';
import { formField, noStore, PageError, parseForm, requireFormBody } from './pages.js';

const cookieName = 'gatehouse.setup';
const tokenPattern = /^[A-Za-z0-9_-]{43}$/;

const setupForm = z.object({
  csrf: z.string().min(1).max(200),
  username: z.string().max(64),
  email: z.string().trim().max(254).optional(),
  password: z.string().max(256),
  password2: z.string().max(256),
  code: z.string().trim().max(7).regex(/^\d{6}$/, 'Enter the 6-digit code your authenticator app shows.'),
});

export interface SetupPageDeps {
  setup: SetupService;
  views: Views;
  csrf: Csrf;
  issuer: string;
}

function render(ctx: Context, views: Views, template: string, data: Record<string, unknown>, status = 200): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Content-Security-Policy', contentSecurityPolicy());
  ctx.body = views.render(template, data);
}

export function setupPage({ setup, views, csrf }: SetupPageDeps): Middleware {
  const csrfSubject = (linkId: string) => `setup:${linkId}`;
  const cookieOptions = (ctx: Context) => ({ httpOnly: true, sameSite: 'strict' as const, path: '/setup', secure: ctx.secure, signed: false, overwrite: true });

  async function show(ctx: Context, token: string, error?: string, status = 200) {
    const opened = await setup.open(token);
    if (!opened) return render(ctx, views, 'setup-gone.njk', {}, 410);
    render(ctx, views, 'setup.njk', {
      csrf: csrf.tokenFor(csrfSubject(opened.linkId)),
      username: formField(ctx, 'username', 64),
      email: formField(ctx, 'email', 254),
      error,
      ...opened.enrolment,
    }, status);
  }

  const parse = (ctx: Context, next: Next) => requireFormBody(ctx, () => parseForm(ctx, next));

  return async function setupRoute(ctx, next) {
    if (ctx.path !== '/setup') return next();
    await noStore(ctx, async () => {
      if (ctx.method === 'GET' || ctx.method === 'HEAD') {
        const fromLink = ctx.query.token;
        if (typeof fromLink === 'string') {
          if (!tokenPattern.test(fromLink)) return render(ctx, views, 'setup-gone.njk', {}, 410);
          ctx.cookies.set(cookieName, fromLink, { ...cookieOptions(ctx), maxAge: 3600_000 });
          ctx.status = 303;
          return ctx.redirect('/setup');
        }
        const token = ctx.cookies.get(cookieName, { signed: false });
        if (!token || !tokenPattern.test(token)) return render(ctx, views, 'setup-gone.njk', {}, 410);
        return show(ctx, token);
      }
      if (ctx.method !== 'POST') {
        ctx.set('Allow', 'GET, HEAD, POST');
        throw new PageError(405, 'This page does not accept that kind of request.');
      }
      await parse(ctx, async () => {
        const token = ctx.cookies.get(cookieName, { signed: false });
        if (!token || !tokenPattern.test(token)) return render(ctx, views, 'setup-gone.njk', {}, 410);
        const opened = await setup.open(token);
        if (!opened) return render(ctx, views, 'setup-gone.njk', {}, 410);
        const body = ctx.request.body as Record<string, unknown> | undefined;
        if (!csrf.verify(csrfSubject(opened.linkId), body?.csrf)) throw new PageError(403, 'This form has expired. Open the setup link again.');
        const form = setupForm.safeParse(body);
        if (!form.success) return show(ctx, token, form.error.issues[0]?.message ?? 'Check the form.', 400);
        if (form.data.password !== form.data.password2) return show(ctx, token, 'The two passwords are not the same.', 400);
        const result = await setup.complete(token, { username: form.data.username, email: form.data.email, password: form.data.password, code: form.data.code });
        if (!result.ok) {
          if (result.reason === 'gone') return render(ctx, views, 'setup-gone.njk', {}, 410);
          return show(ctx, token, result.message, 400);
        }
        ctx.cookies.set(cookieName, '', { ...cookieOptions(ctx), maxAge: 0 });
        render(ctx, views, 'setup-done.njk', { username: result.account.username, codes: result.recoveryCodes });
      });
    });
  };
}

/** `/`: a plain page that says what this is, instead of `Not Found`. */
export function homePage({ views, issuer }: Pick<SetupPageDeps, 'views' | 'issuer'>): Middleware {
  return async function homeRoute(ctx, next) {
    if (ctx.path !== '/' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.set('Cache-Control', 'public, max-age=300');
    render(ctx, views, 'home.njk', { issuer });
  };
}
