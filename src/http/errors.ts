import { STATUS_CODES } from 'node:http';

import type { Context } from 'koa';
import type { Logger } from 'pino';

import { isDatabaseUnavailable } from '../db/unavailable.js';
import type { Views } from './views.js';
import { routeOf } from './route-table.js';

/**
 * A refusal Gatehouse decides at its edge (limits, bad input): a status, an
 * RFC 6749 error code and a sentence written for the client. Nothing the
 * client sent is ever part of the sentence.
 */
export class HttpProblem extends Error {
  override name = 'HttpProblem';
  constructor(readonly status: number, readonly error: string, readonly userMessage: string, readonly headers: Readonly<Record<string, string>> = {}) {
    super(userMessage);
  }
}

interface HttpishError {
  status?: number;
  statusCode?: number;
  error?: string;
  userMessage?: string;
}

/** Plain sentences by status, for errors that carry no message written for a client. */
const genericMessages: Record<number, string> = {
  400: 'The request could not be processed.',
  401: 'Authentication is required.',
  403: 'This request is not allowed.',
  404: 'There is nothing here.',
  405: 'This method is not allowed here.',
  413: 'The request body is too large.',
  414: 'The request URI is too long.',
  415: 'This content type is not supported here.',
  429: 'Too many requests. Wait a moment and try again.',
};

const oauthCode = /^[a-z_]{1,64}$/;

export interface ErrorBoundary {
  /** Turns anything thrown while handling a request into a safe answer. */
  answer(ctx: Context, caught: unknown): void;
  /** Adjusts a finished answer (see below). */
  review(ctx: Context): void;
}

/**
 * The one place errors outside the library's own routes become responses
 * (src/http/edge.ts wraps every request in it). The client gets a status, a
 * standard error code and a plain sentence; the detail (stack, SQL, library
 * internals) goes to the log with the request id. Only messages written for
 * clients (HttpProblem, PageError: `userMessage`) are shown; any other
 * error's message could carry internals or echo input.
 */
export function errorBoundary(log: Logger, views: Views): ErrorBoundary {
  return {
    answer(ctx, caught) {
      if (isDatabaseUnavailable(caught)) {
        log.error({ requestId: ctx.state.requestId, err: caught, path: ctx.path }, 'database unavailable');
        return answerUnavailable(ctx, views);
      }
      const err = caught as Error & HttpishError;
      const status = err.statusCode ?? err.status ?? 500;
      const safe = status >= 400 && status < 500;
      const requestId = ctx.state.requestId as string | undefined;
      (safe ? log.warn : log.error).call(log, { requestId, err, path: ctx.path }, 'request failed');

      ctx.status = safe ? status : 500;
      ctx.set('Cache-Control', 'no-store');
      if (safe && caught instanceof HttpProblem) ctx.set({ ...caught.headers });
      const code = safe ? (typeof err.error === 'string' && oauthCode.test(err.error) ? err.error : 'invalid_request') : 'server_error';
      const message = safe
        ? (err.userMessage ?? genericMessages[status] ?? genericMessages[400]!)
        : 'Something went wrong on our side. Try again in a moment.';
      respond(ctx, views, code, message);
    },

    review(ctx) {
      // Routers answer a method nobody implements anywhere (PROPFIND …) with 501; to a client
      // that is a method this resource does not allow, not a server fault (and no 5xx alarm).
      if (ctx.status === 501) {
        ctx.status = 405;
        respond(ctx, views, 'invalid_request', genericMessages[405]!);
      }
      // The library answered a failure of its own (src/http/app.ts keeps the cause from its
      // `server_error` event): when that was the database being away, say so the retryable way.
      // The library never redirects such a fault to the client (lib/shared/authorization_error_handler.js
      // redirects only errors with `allow_redirect`), so the answer to replace is its 500 body or page.
      if (ctx.status >= 500 && ctx.state.serverError !== undefined && isDatabaseUnavailable(ctx.state.serverError)) answerUnavailable(ctx, views);
    },
  };
}

/** Seconds a client should wait before retrying while the database is unreachable. */
export const unavailableRetryAfterSeconds = 5;
const unavailableMessage = 'The service is briefly unavailable. Try again shortly.';

/**
 * RFC 6749 §4.1.2.1 / §5.2 `temporarily_unavailable`, with 503 and
 * `Retry-After` (RFC 9110 §10.2.3): a client retries instead of reporting a
 * fault; a person gets a page saying to try again shortly.
 */
function answerUnavailable(ctx: Context, views: Views): void {
  ctx.status = 503;
  ctx.set('Retry-After', String(unavailableRetryAfterSeconds));
  ctx.set('Cache-Control', 'no-store');
  if (routeOf(ctx).name === 'admin') {
    answerProblem(ctx, unavailableMessage);
  } else if (wantsPage(ctx)) {
    ctx.type = 'html';
    ctx.body = views.render('unavailable.njk', { requestId: ctx.state.requestId });
  } else {
    ctx.body = { error: 'temporarily_unavailable', error_description: unavailableMessage };
  }
}

/**
 * The admin API speaks RFC 9457 problem details (docs/admin-api.md), also for
 * what the edge refuses before the API sees the request.
 */
function answerProblem(ctx: Context, message: string): void {
  ctx.body = { type: 'about:blank', title: STATUS_CODES[ctx.status] ?? 'Error', status: ctx.status, detail: message, instance: `urn:gatehouse:request:${String(ctx.state.requestId ?? '')}` };
  ctx.type = 'application/problem+json';
}

function respond(ctx: Context, views: Views, code: string, message: string): void {
  if (routeOf(ctx).name === 'admin') {
    answerProblem(ctx, message);
  } else if (wantsPage(ctx)) {
    ctx.type = 'html';
    ctx.body = views.render('error.njk', { error: code, message, requestId: ctx.state.requestId });
  } else {
    ctx.body = { error: code, error_description: message };
  }
}

/** Pages for people, JSON for every protocol and operational endpoint (the route table says which); paths in no route by Accept. */
export function wantsPage(ctx: Context): boolean {
  const kind = routeOf(ctx).kind;
  if (kind !== 'negotiated') return kind === 'page';
  return ctx.accepts('json', 'html') === 'html';
}
