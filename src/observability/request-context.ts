import { randomUUID } from 'node:crypto';

import type { Context, Next } from 'koa';
import type { Logger } from 'pino';

const validRequestId = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * Gives every request an id (a trusted proxy's, or a new one), echoes it in
 * `X-Request-Id`, and writes one log line per request when it completes. The
 * path is logged without its query string, which can carry codes and tokens.
 */
export function requestContext(log: Logger, options: { trustIncomingId: boolean }) {
  return async function requestContextMiddleware(ctx: Context, next: Next) {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('X-Request-Id');
    const requestId = options.trustIncomingId && validRequestId.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const oidc = (ctx as { oidc?: { route?: string; client?: { clientId: string } } }).oidc;
      const status = ctx.status;
      const line = {
        requestId,
        method: ctx.method,
        path: ctx.path,
        route: oidc?.route,
        status,
        latencyMs: Number(process.hrtime.bigint() - started) / 1e6,
        clientId: oidc?.client?.clientId,
        ip: ctx.ip,
      };
      if (status >= 500) log.error(line, 'request');
      else log.info(line, 'request');
    }
  };
}
