/**
 * The sign-up pages (src/signup/, GATEHOUSE_SIGNUP):
 *   /signup             `open`: username, address, password; always "check your email"
 *                       (the service decides after the answer what the mail says).
 *                       `invite`: a page saying accounts come by invitation (403).
 *   /signup/invitation  the emailed invitation link: its token moves at once into a
 *                       cookie scoped to /signup (not left in the address bar, history or
 *                       Referer), then username and password for the invited address.
 * With sign-up `off` neither path exists (404, as any unknown path). Arriving from
 * the sign-in page, `?interaction=<uid>` brings the browser back to that sign-in
 * afterwards. CSRF: the form's token is bound to a random cookie of its own (there
 * is no interaction to bind it to); the invitation form's to the link. Every
 * submission spends the client address's sign-up budget: over it, 429 with
 * Retry-After, which says nothing about any account.
 */
import { randomBytes } from 'node:crypto';

import type { Context, Middleware } from 'koa';

import type { Views } from '../http/views.js';
import { linkTokenPattern } from '../mail/recovery.js';
import type { SignupService } from '../signup/signups.js';
import type { Csrf } from './csrf.js';
import { formField, noStore, PageError } from './pages.js';
import { allow, isRead, parse, render } from './recovery.js';

const formCookie = 'gatehouse.signup';
const linkCookie = 'gatehouse.invitation';
const formCookiePattern = /^[A-Za-z0-9_-]{22}$/;
const uidPattern = /^[A-Za-z0-9_-]{1,64}$/;

export interface SignupPageDeps {
  signups: SignupService;
  views: Views;
  csrf: Csrf;
  /** GATEHOUSE_PASSWORD_MIN_LENGTH, for the hint under the password field. */
  minLength: number;
  invitationTtlSeconds: number;
}

export function signupPages({ signups, views, csrf, minLength, invitationTtlSeconds }: SignupPageDeps): Middleware {
  // Lax, not Strict: the invitation is opened from a mail client, a cross-site navigation whose redirect must still carry the cookie.
  const cookieOptions = (ctx: Context) => ({ httpOnly: true, sameSite: 'lax' as const, path: '/signup', secure: ctx.secure, signed: false, overwrite: true });
  /** The sign-in this sign-up interrupted: only an interaction id, so the way back is always one of our own pages. */
  const interactionOf = (value: unknown) => (typeof value === 'string' && uidPattern.test(value) ? value : undefined);

  async function admitted(ctx: Context): Promise<boolean> {
    const admission = await signups.admit(ctx.ip);
    if (admission.ok) return true;
    ctx.set('Retry-After', String(admission.retryAfterSeconds));
    render(ctx, views, 'too-many-requests.njk', { retryAfter: admission.retryAfterSeconds, requestId: ctx.state.requestId }, 429);
    return false;
  }

  function showForm(ctx: Context, form: { username?: string; email?: string; error?: string; interaction?: string | undefined } = {}, status = 200) {
    if (signups.mode === 'invite') return render(ctx, views, 'signup.njk', { inviteOnly: true }, 403);
    let nonce = ctx.cookies.get(formCookie, { signed: false });
    if (!nonce || !formCookiePattern.test(nonce)) {
      nonce = randomBytes(16).toString('base64url');
      ctx.cookies.set(formCookie, nonce, { ...cookieOptions(ctx), maxAge: 3600_000 });
    }
    render(ctx, views, 'signup.njk', { csrf: csrf.tokenFor(`signup:${nonce}`), minLength, ...form }, status);
  }

  async function submit(ctx: Context) {
    if (signups.mode === 'invite') return showForm(ctx);
    const body = ctx.request.body as Record<string, unknown> | undefined;
    const nonce = ctx.cookies.get(formCookie, { signed: false });
    if (!nonce || !csrf.verify(`signup:${nonce}`, body?.csrf)) throw new PageError(403, 'This form has expired. Open the page again.');
    if (!(await admitted(ctx))) return;
    const interaction = interactionOf(body?.interaction);
    const checked = signups.check(body);
    if (!checked.ok) return showForm(ctx, { username: formField(ctx, 'username', 64), email: formField(ctx, 'email', 254), error: checked.message, interaction }, 400);
    // Answered before anything is looked up: the same page for free and taken names.
    // The work starts once the answer is sent ('close' also fires when the client went away).
    const answered = new Promise<void>((resolve) => ctx.res.once('close', () => resolve()));
    signups.request(checked.input, { ip: ctx.ip }, answered);
    render(ctx, views, 'signup.njk', { sent: true, email: checked.input.email, interaction });
  }

  async function showInvitation(ctx: Context, token: string, form: { username?: string; error?: string } = {}, status = 200) {
    const invitation = await signups.openInvitation(token);
    if (!invitation) return render(ctx, views, 'signup-gone.njk', {}, 410);
    render(ctx, views, 'signup-invitation.njk', { csrf: csrf.tokenFor(`invitation:${token}`), email: invitation.email, minLength, ...form }, status);
  }

  async function accept(ctx: Context) {
    const token = ctx.cookies.get(linkCookie, { signed: false });
    if (!token || !linkTokenPattern.test(token)) return render(ctx, views, 'signup-gone.njk', {}, 410);
    const body = ctx.request.body as Record<string, unknown> | undefined;
    if (!csrf.verify(`invitation:${token}`, body?.csrf)) throw new PageError(403, 'This form has expired. Open the link in the invitation again.');
    if (!(await admitted(ctx))) return;
    const result = await signups.acceptInvitation(token, body);
    if (result.ok) {
      ctx.cookies.set(linkCookie, '', { ...cookieOptions(ctx), maxAge: 0 });
      return render(ctx, views, 'signup-done.njk', { username: result.account.username, email: result.account.email });
    }
    if ('field' in result) return showInvitation(ctx, token, { username: formField(ctx, 'username', 64), error: result.message }, 400);
    if (result.reason === 'email_taken') return render(ctx, views, 'signup-gone.njk', { emailTaken: true }, 409);
    return render(ctx, views, 'signup-gone.njk', {}, 410);
  }

  async function invitation(ctx: Context) {
    if (!isRead(ctx)) {
      if (ctx.method !== 'POST') return allow(ctx, 'GET, HEAD, POST');
      return parse(ctx, () => accept(ctx));
    }
    const fromLink = ctx.query.token;
    if (typeof fromLink === 'string') {
      if (!linkTokenPattern.test(fromLink)) return render(ctx, views, 'signup-gone.njk', {}, 410);
      ctx.cookies.set(linkCookie, fromLink, { ...cookieOptions(ctx), maxAge: invitationTtlSeconds * 1000 });
      ctx.status = 303;
      return ctx.redirect('/signup/invitation');
    }
    const token = ctx.cookies.get(linkCookie, { signed: false });
    if (!token || !linkTokenPattern.test(token)) return render(ctx, views, 'signup-gone.njk', {}, 410);
    return showInvitation(ctx, token);
  }

  return async function signupRoute(ctx, next) {
    // Off: no page at all. Open: no invitations. Either answers as an unknown path.
    if (signups.mode === 'off' || (ctx.path === '/signup/invitation' && signups.mode !== 'invite')) return next();
    if (ctx.path !== '/signup' && ctx.path !== '/signup/invitation') return next();
    await noStore(ctx, async () => {
      ctx.set('Referrer-Policy', 'no-referrer');
      if (ctx.path === '/signup/invitation') return invitation(ctx);
      if (isRead(ctx)) return showForm(ctx, { interaction: interactionOf(ctx.query.interaction) });
      if (ctx.method !== 'POST') return allow(ctx, 'GET, HEAD, POST');
      return parse(ctx, () => submit(ctx));
    });
  };
}
