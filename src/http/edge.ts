/**
 * The edge: what Gatehouse does around every request, in one koa layer in
 * front of everything else, in this order:
 *   route (src/http/route-table.ts: one lookup, read by everything below) →
 *   request context (client IP, request id, published to the audit log) →
 *   error boundary → security headers → listener (src/http/listener-scope.ts) → origin (the Host is not trusted) →
 *   size limits → text that cannot be stored (NUL, broken Unicode) → rate limits →
 *   [Gatehouse's routes, then the library's] → OAuth error codes, the route's Cache-Control,
 * and when the request is answered, one log line and its metrics.
 *
 * One layer, not one koa middleware per concern: each layer adds its own
 * chain of promises to every request, and with AsyncLocalStorage active (the
 * library and the audit log both use it) every promise runs hooks. Thirteen
 * layers cost the token endpoint about a fifth of its throughput
 * (bench/RESULTS.md); the concerns themselves are plain functions in their
 * own modules.
 */
import type { Context, Next } from 'koa';

import { requestFacts } from '../observability/request-facts.js';
import type { RequestContext } from './request-context.js';
import { correctErrorCodes } from '../oidc/error-codes.js';
import type { ErrorBoundary } from './errors.js';
import { allowFormPostTarget, setSecurityHeaders } from './headers.js';
import { refuseOffListener } from './listener-scope.js';
import type { CanonicalOrigins } from './origin.js';
import type { RateLimiter } from './rate-limit.js';
import { checkRequestLimits, checkRequestText } from './request-limits.js';
import type { Route, RouteIndex } from './route-table.js';

export interface EdgeParts {
  routes: RouteIndex;
  context: RequestContext;
  boundary: ErrorBoundary;
  origins: CanonicalOrigins;
  rateLimiter: RateLimiter;
  /** GATEHOUSE_ADMIN_PORT is set: /admin/v1 only there, and only /admin/v1 there. */
  separateAdmin?: boolean;
}

function setRouteCacheControl(ctx: Context, route: Route): void {
  if (route.cacheControl && ctx.status >= 200 && ctx.status < 300 && !ctx.response.get('Cache-Control')) ctx.set('Cache-Control', route.cacheControl);
}

export function edge({ routes, context, boundary, origins, rateLimiter, separateAdmin = false }: EdgeParts) {
  async function guarded(ctx: Context, next: Next): Promise<void> {
    try {
      setSecurityHeaders(ctx);
      if (refuseOffListener(ctx, separateAdmin, (ctx.state.route as Route).name)) return;
      ctx.state.origin = origins.of(ctx);
      checkRequestLimits(ctx);
      await checkRequestText(ctx);
      const admission = await rateLimiter.admit(ctx);
      if (!admission) return;
      try {
        await next();
      } finally {
        await admission.settle(ctx);
      }
      correctErrorCodes(ctx);
      allowFormPostTarget(ctx);
      boundary.review(ctx);
      setRouteCacheControl(ctx, ctx.state.route as Route);
    } catch (caught) {
      boundary.answer(ctx, caught);
    }
  }

  return async function edgeMiddleware(ctx: Context, next: Next): Promise<void> {
    ctx.state.route = routes.resolve(ctx.path);
    const opened = context.open(ctx);
    try {
      await requestFacts.run(opened.facts, guarded, ctx, next);
    } finally {
      context.close(ctx, opened);
    }
  };
}
