import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

import type { Views } from '../interactions/views.js';

interface HttpishError {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  error?: string;
  error_description?: string;
  userMessage?: string;
}

/**
 * The one place errors outside the library's own routes become responses.
 * The client gets a status, a standard error code and a plain sentence; the
 * detail (stack, SQL, library internals) goes to the log with the request id.
 */
export function errorBoundary(log: Logger, views: Views) {
  return async function errorBoundaryMiddleware(ctx: Context, next: Next) {
    try {
      await next();
    } catch (caught) {
      const err = caught as Error & HttpishError;
      const status = err.statusCode ?? err.status ?? 500;
      const safe = status < 500 && status >= 400;
      const requestId = ctx.state.requestId as string | undefined;
      (safe ? log.warn : log.error).call(log, { requestId, err, path: ctx.path }, 'request failed');

      ctx.status = safe ? status : 500;
      ctx.set('Cache-Control', 'no-store');
      const code = safe ? (err.error ?? 'invalid_request') : 'server_error';
      const message = safe
        ? (err.userMessage ?? (err.expose ? (err.error_description ?? err.message) : undefined) ?? 'The request could not be processed.')
        : 'Something went wrong on our side. Try again in a moment.';
      if (ctx.accepts('json', 'html') === 'html' || ctx.path.startsWith('/interaction/')) {
        ctx.type = 'html';
        ctx.body = views.render('error.njk', { error: code, message, requestId });
      } else {
        ctx.body = { error: code, error_description: message };
      }
    }
  };
}
