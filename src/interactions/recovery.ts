/**
 * The pages of password recovery and email verification (src/mail/):
 *   /recovery        "forgot password": a username or address in, always the same answer;
 *   /recovery/reset  the emailed link: its token moves at once into a cookie scoped to
 *                    /recovery (not left in the address bar, history or Referer), then
 *                    the new password (and the second factor, when the account has one);
 *   /verify-email    the emailed verification link: a button, so a mail scanner that
 *                    fetches links verifies nothing.
 * CSRF: the request form's token is bound to a random cookie of its own (there is
 * no interaction to bind it to); the reset form's to the link.
 */
import { randomBytes } from 'node:crypto';

import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';

import { contentSecurityPolicy } from '../http/headers.js';
import type { Views } from '../http/views.js';
import { linkTokenPattern, type PasswordRecovery } from '../mail/recovery.js';
import type { EmailVerification } from '../mail/verification.js';
import type { Csrf } from './csrf.js';
import { formField, lockedMessage, noStore, PageError, parseForm, requireFormBody } from './pages.js';

const formCookie = 'gatehouse.recovery';
const linkCookie = 'gatehouse.reset';
const formCookiePattern = /^[A-Za-z0-9_-]{22}$/;

const requestForm = z.object({
  csrf: z.string().min(1).max(200),
  login: z.string().trim().min(1, 'Enter your username or email address.').max(254, 'Enter your username or email address.'),
});

const resetForm = z.object({
  csrf: z.string().min(1).max(200),
  password: z.string().max(256, 'password must be at most 256 characters'),
  password2: z.string().max(256),
  code: z.string().max(32).optional(),
});

export interface RecoveryPageDeps {
  recovery: PasswordRecovery;
  verification: EmailVerification;
  views: Views;
  csrf: Csrf;
  resetTtlSeconds: number;
}

/** A page outside an interaction, under the page CSP (also the sign-up pages', signup.ts). */
export function render(ctx: Context, views: Views, template: string, data: Record<string, unknown>, status = 200): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Content-Security-Policy', contentSecurityPolicy());
  ctx.body = views.render(template, data);
}

export function allow(ctx: Context, methods: string): never {
  ctx.set('Allow', methods);
  throw new PageError(405, 'This page does not accept that kind of request.');
}

export const isRead = (ctx: Context) => ctx.method === 'GET' || ctx.method === 'HEAD';
export const parse = (ctx: Context, next: Next) => requireFormBody(ctx, () => parseForm(ctx, next));

export function recoveryPages({ recovery, verification, views, csrf, resetTtlSeconds }: RecoveryPageDeps): Middleware {
  // Lax, not Strict: the link is opened from a mail client, a cross-site navigation whose redirect must still carry the cookie.
  const cookieOptions = (ctx: Context) => ({ httpOnly: true, sameSite: 'lax' as const, path: '/recovery', secure: ctx.secure, signed: false, overwrite: true });
  const minutes = Math.round(resetTtlSeconds / 60);

  /** The request form, with a fresh form cookie when the browser has none. */
  function showRequest(ctx: Context, form: { login?: string; error?: string } = {}, status = 200) {
    if (!recovery.enabled) return render(ctx, views, 'recovery.njk', { unavailable: true }, status === 200 ? 404 : status);
    let nonce = ctx.cookies.get(formCookie, { signed: false });
    if (!nonce || !formCookiePattern.test(nonce)) {
      nonce = randomBytes(16).toString('base64url');
      ctx.cookies.set(formCookie, nonce, { ...cookieOptions(ctx), maxAge: 3600_000 });
    }
    render(ctx, views, 'recovery.njk', { csrf: csrf.tokenFor(`recovery:${nonce}`), ...form }, status);
  }

  async function request(ctx: Context) {
    if (!recovery.enabled) return showRequest(ctx);
    const body = ctx.request.body as Record<string, unknown> | undefined;
    const nonce = ctx.cookies.get(formCookie, { signed: false });
    if (!nonce || !csrf.verify(`recovery:${nonce}`, body?.csrf)) throw new PageError(403, 'This form has expired. Open the page again.');
    const form = requestForm.safeParse(body);
    if (!form.success) return showRequest(ctx, { login: formField(ctx, 'login', 254), error: form.error.issues[0]?.message ?? 'Check the form.' }, 400);
    // Answered before anything is looked up: the same page, at the same speed, for every name.
    // The work starts once the answer is sent ('close' also fires when the client went away).
    const answered = new Promise<void>((resolve) => ctx.res.once('close', () => resolve()));
    recovery.request(form.data.login, { ip: ctx.ip }, answered);
    render(ctx, views, 'recovery.njk', { sent: true, minutes });
  }

  async function showReset(ctx: Context, token: string, error?: string, status = 200) {
    const opened = await recovery.open(token);
    if (!opened) return render(ctx, views, 'recovery-gone.njk', {}, 410);
    if (opened.secondFactor === 'passkey_only') return render(ctx, views, 'recovery-passkey.njk', { username: opened.username }, status === 200 ? 403 : status);
    render(ctx, views, 'recovery-reset.njk', { csrf: csrf.tokenFor(`reset:${token}`), username: opened.username, totp: opened.secondFactor === 'totp', error }, status);
  }

  async function reset(ctx: Context) {
    const token = ctx.cookies.get(linkCookie, { signed: false });
    if (!token || !linkTokenPattern.test(token)) return render(ctx, views, 'recovery-gone.njk', {}, 410);
    const body = ctx.request.body as Record<string, unknown> | undefined;
    if (!csrf.verify(`reset:${token}`, body?.csrf)) throw new PageError(403, 'This form has expired. Open the link in the email again.');
    const form = resetForm.safeParse(body);
    if (!form.success) return showReset(ctx, token, form.error.issues[0]?.message ?? 'Check the form.', 400);
    if (form.data.password !== form.data.password2) return showReset(ctx, token, 'The two passwords are not the same.', 400);
    const result = await recovery.complete(token, { password: form.data.password, code: form.data.code }, { ip: ctx.ip });
    if (!result.ok) {
      switch (result.reason) {
        case 'gone':
          return render(ctx, views, 'recovery-gone.njk', {}, 410);
        case 'passkey_only':
          return showReset(ctx, token);
        case 'locked':
          ctx.set('Retry-After', String(result.retryAfterSeconds));
          return showReset(ctx, token, lockedMessage(result.retryAfterSeconds), 429);
        default:
          return showReset(ctx, token, result.message, 400);
      }
    }
    ctx.cookies.set(linkCookie, '', { ...cookieOptions(ctx), maxAge: 0 });
    render(ctx, views, 'recovery-done.njk', { username: result.username });
  }

  async function verifyEmail(ctx: Context) {
    if (isRead(ctx)) {
      const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
      const open = await verification.peek(token);
      return render(ctx, views, 'verify-email.njk', open ? { token } : { gone: true }, open ? 200 : 410);
    }
    if (ctx.method !== 'POST') return allow(ctx, 'GET, HEAD, POST');
    await parse(ctx, async () => {
      const token = formField(ctx, 'token', 64);
      const account = await verification.confirm(token);
      if (!account) return render(ctx, views, 'verify-email.njk', { gone: true }, 410);
      render(ctx, views, 'verify-email.njk', { done: true, email: account.email, username: account.username });
    });
  }

  return async function recoveryRoute(ctx, next) {
    await noStore(ctx, async () => {
      ctx.set('Referrer-Policy', 'no-referrer');
      if (ctx.path === '/verify-email') return verifyEmail(ctx);
      if (ctx.path === '/recovery') {
        if (isRead(ctx)) return showRequest(ctx);
        if (ctx.method !== 'POST') return allow(ctx, 'GET, HEAD, POST');
        return parse(ctx, () => request(ctx));
      }
      if (ctx.path === '/recovery/reset') {
        if (isRead(ctx)) {
          const fromLink = ctx.query.token;
          if (typeof fromLink === 'string') {
            if (!linkTokenPattern.test(fromLink)) return render(ctx, views, 'recovery-gone.njk', {}, 410);
            ctx.cookies.set(linkCookie, fromLink, { ...cookieOptions(ctx), maxAge: resetTtlSeconds * 1000 });
            ctx.status = 303;
            return ctx.redirect('/recovery/reset');
          }
          const token = ctx.cookies.get(linkCookie, { signed: false });
          if (!token || !linkTokenPattern.test(token)) return render(ctx, views, 'recovery-gone.njk', {}, 410);
          return showReset(ctx, token);
        }
        if (ctx.method !== 'POST') return allow(ctx, 'GET, HEAD, POST');
        return parse(ctx, () => reset(ctx));
      }
      return next();
    });
  };
}
