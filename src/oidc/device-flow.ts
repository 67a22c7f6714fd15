/**
 * The device authorization grant (RFC 8628) on oidc-provider's deviceFlow
 * feature (lib/actions/code_verification.js, lib/actions/authorization/device.js
 * at v9.13.3): Gatehouse's pages instead of the library's (which carry
 * inline script and style the CSP refuses), the code-guessing limit per
 * address, the `interval` the library neither announces nor enforces, and
 * the device.* audit events.
 *
 * The library's order is kept: code, confirmation naming the client with the
 * remote-phishing warning (§5.4), then the normal sign-in interaction (second
 * factor, consent, RBAC), then the success page.
 *
 * Events written here:
 *   device.authorization_requested {clientId}            a device asked for a code
 *   device.code_rejected           {reason}              an entered code named no live request
 *   device.locked                  {}                    the address used its last guess
 *   device.approved / device.denied                       the user finished or cancelled
 *   device.slow_down                                      a device polled before its interval
 */
import type { Context, Next } from 'koa';
import type { Configuration } from 'oidc-provider';

import type { Audit } from '../audit/events.js';
import type { DeviceFlowGuards } from '../device/guards.js';
import type { Views } from '../http/views.js';
import { readBodyAhead } from '../http/request-limits.js';

type DeviceFeature = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;

/** RFC 8628 §6.1: 20 consonants (no vowels, no look-alikes), 8 of them: 20^8 ≈ 2^34.6 codes. */
export const userCodeCharset = 'base-20';
export const userCodeMask = '****-****';

interface OidcBits {
  session?: { state?: { secret?: string } };
  client?: { clientId: string; clientName?: string };
  urlFor(name: string): string;
}
const oidcOf = (ctx: Context) => (ctx as unknown as { oidc: OidcBits }).oidc;
const request = (ctx: Context) => ({ ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });

/** What the library's re-render errors (lib/helpers/re_render_errors.js) mean to the person at the page. */
function messageFor(err: Error | undefined): { error?: string; notice?: string; reason?: string } {
  switch (err?.name) {
    case undefined:
      return {};
    case 'NoCodeError':
      return { error: 'Enter the code your device shows.' };
    case 'NotFoundError':
      return { error: 'That code is not right. Check it against your device and try again.', reason: 'unknown' };
    case 'ExpiredError':
      return { error: 'That code has expired. Start again on your device to get a new one.', reason: 'expired' };
    case 'AlreadyUsedError':
      return { error: 'That code has already been used. Start again on your device to get a new one.', reason: 'used' };
    case 'AbortedError':
      return { notice: 'Cancelled: the device was not connected.' };
    default:
      return { error: 'Something went wrong. Start again on your device.' };
  }
}

export function deviceFlowFeature(deps: { views: Views; audit: Audit }): DeviceFeature {
  const { views, audit } = deps;
  const html = (ctx: Context, body: string) => {
    ctx.type = 'html';
    ctx.body = body;
  };
  return {
    enabled: true,
    charset: userCodeCharset,
    mask: userCodeMask,
    // The library's `form` strings carry an inline onfocus handler; the pages build their own forms from the same fields.
    async userCodeInputSource(ctx, _form, _out, err) {
      const message = messageFor(err);
      const oidc = oidcOf(ctx);
      if (message.reason) {
        ctx.state.deviceCodeMissed = message.reason;
        audit.record({ type: 'device.code_rejected', outcome: 'failure', ...request(ctx), detail: { reason: message.reason } });
      }
      if (err?.name === 'AbortedError') audit.record({ type: 'device.denied', outcome: 'failure', ...request(ctx) });
      html(ctx, views.render('device.njk', { ...message, action: oidc.urlFor('code_verification'), xsrf: oidc.session?.state?.secret ?? '', code: ctx.state.devicePrefill ?? '' }));
    },
    async userCodeConfirmSource(ctx, _form, client, _deviceInfo, userCode) {
      const oidc = oidcOf(ctx);
      html(ctx, views.render('device-confirm.njk', { client: client.clientName ?? client.clientId, code: userCode, action: oidc.urlFor('code_verification'), xsrf: oidc.session?.state?.secret ?? '' }));
    },
    async successSource(ctx) {
      const client = oidcOf(ctx).client;
      audit.record({ type: 'device.approved', outcome: 'success', ...request(ctx), ...(client ? { clientId: client.clientId } : {}) });
      html(ctx, views.render('device-done.njk', { client: client?.clientName ?? client?.clientId ?? 'The device' }));
    },
  };
}

/**
 * The code page: `verification_uri_complete` (§3.3.1) would have the library
 * auto-submit the code with an inline script; Gatehouse shows the code page
 * filled in instead, so the person still presses a button (and reads the
 * confirmation) before anything happens. Every POST spends one guess of the
 * address's budget, given back when the code named a live request.
 */
export function codeVerificationGuard(deps: { guards: DeviceFlowGuards; views: Views; audit: Audit }) {
  return async function codeVerification(ctx: Context, next: Next): Promise<void> {
    if (ctx.method === 'GET' && typeof ctx.query.user_code === 'string') {
      ctx.state.devicePrefill = ctx.query.user_code.slice(0, 32);
      ctx.querystring = '';
      return next();
    }
    if (ctx.method !== 'POST') return next();
    const guess = await deps.guards.guess(ctx.ip);
    if (!guess.allowed) {
      ctx.status = 429;
      ctx.set('Retry-After', String(guess.retryAfterSeconds));
      ctx.type = 'html';
      ctx.body = deps.views.render('too-many-requests.njk', { retryAfter: guess.retryAfterSeconds, requestId: ctx.state.requestId });
      return;
    }
    await withoutLiveSession(deps.views, ctx, next);
    if (ctx.state.deviceCodeMissed === 'unknown') {
      if (guess.missed().locked) deps.audit.record({ type: 'device.locked', outcome: 'failure', ...request(ctx) });
    } else {
      await guess.found();
    }
  };
}

/**
 * A request with no live session (no cookie, or an expired one: a form posted
 * from another browser, a stale resume link) makes the library fail persisting
 * the session it made for its error page (lib/helpers/initialize_app.js
 * ensureSessionSave, lib/models/session.js persist, v9.13.3): a 500 for what
 * is a stale page. The person gets the plain page a stale form gets.
 */
async function withoutLiveSession(views: Views, ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    if (!(error instanceof TypeError) || !/previously persisted Sessions/.test(error.message)) throw error;
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = views.render('error.njk', { error: 'invalid_request', description: 'This page has expired. Open the code page again and enter the code.', requestId: ctx.state.requestId });
  }
}

/** The resume step after the sign-in (`/device/<uid>`). */
export function deviceResumeGuard(deps: { views: Views }) {
  return (ctx: Context, next: Next) => withoutLiveSession(deps.views, ctx, next);
}

/** RFC 8628 §3.2: the response names the polling interval Gatehouse enforces (the library sends none, so clients would assume 5 s). */
export function deviceAuthorizationInterval(deps: { guards: DeviceFlowGuards; audit: Audit }) {
  return async function deviceAuthorization(ctx: Context, next: Next): Promise<void> {
    await next();
    const body = ctx.body as { device_code?: unknown; error?: unknown; error_description?: unknown } | undefined;
    // The library answers a client not registered for the grant `invalid_request` (lib/actions/authorization/client.js
    // checkClientGrantType, v9.13.3); RFC 8628 §3.2 defers to RFC 6749 §5.2, whose code for it is unauthorized_client.
    if (ctx.status === 400 && body?.error === 'invalid_request' && typeof body.error_description === 'string' && body.error_description.endsWith('is not allowed for this client')) {
      ctx.body = { error: 'unauthorized_client', error_description: 'this client is not registered for the device authorization grant' };
      return;
    }
    if (ctx.status !== 200 || !body || typeof body !== 'object' || !('device_code' in body)) return;
    ctx.body = { ...body, interval: deps.guards.pollInterval };
    const client = oidcOf(ctx).client;
    deps.audit.record({ type: 'device.authorization_requested', outcome: 'success', ...request(ctx), ...(client ? { actor: client.clientId, clientId: client.clientId } : {}) });
  };
}

/**
 * RFC 8628 §3.5: a poll sooner than the interval is answered `slow_down`
 * before the library looks at the code. The body is read ahead (the
 * library reads the same bytes afterwards, src/http/request-limits.ts).
 */
export function devicePolling(deps: { guards: DeviceFlowGuards; audit: Audit }) {
  return async function tokenPolling(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'POST' || !ctx.is('application/x-www-form-urlencoded')) return next();
    const body = await readBodyAhead(ctx);
    if (!body) return next();
    const form = new URLSearchParams(body.toString('utf8'));
    const deviceCode = form.get('device_code');
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:device_code' || !deviceCode) return next();
    if (!(await deps.guards.pollTooSoon(deviceCode))) return next();
    deps.audit.record({ type: 'device.slow_down', outcome: 'failure', ...request(ctx) });
    ctx.status = 400;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'slow_down', error_description: `poll at most every ${deps.guards.pollInterval} seconds, plus 5 for each slow_down (RFC 8628 §3.5)` };
  };
}
