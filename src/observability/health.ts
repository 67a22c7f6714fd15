import type { Context, Next } from 'koa';

export interface ReadinessCheck {
  /** Resolves to the names of the checks that failed; empty when ready. */
  (): Promise<string[]>;
}

/**
 * /healthz: the process answers (liveness). /readyz: it can serve traffic:
 * database reachable, schema current, keys loaded (readiness). A draining node
 * reports not ready first, so a load balancer stops sending it requests.
 */
export function healthRoutes(readiness: ReadinessCheck) {
  return async function healthMiddleware(ctx: Context, next: Next) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === '/healthz') {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/readyz') {
      ctx.set('Cache-Control', 'no-store');
      const failed = await readiness();
      ctx.status = failed.length === 0 ? 200 : 503;
      ctx.body = failed.length === 0 ? { status: 'ready' } : { status: 'not ready', failing: failed };
      return;
    }
    return next();
  };
}
