/**
 * The edge: what Gatehouse does around every request, in one koa layer in
 * front of everything else, in this order:
 *   request context (client IP, request id, published to the audit log) →
 *   error boundary → security headers → size limits → text that cannot be
 *   stored (NUL, broken Unicode) → rate limits →
 *   [Gatehouse's routes, then the library's] → OAuth error codes,
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

import { requestFacts } from '../audit/log.js';
import type { RequestContext } from '../observability/request-context.js';
import { correctErrorCodes } from '../oidc/error-codes.js';
import type { ErrorBoundary } from './errors.js';
import { allowFormPostTarget, setSecurityHeaders } from './headers.js';
import type { RateLimiter } from './rate-limit.js';
import { checkRequestLimits, checkRequestText } from './request-limits.js';

export interface EdgeParts {
  context: RequestContext;
  boundary: ErrorBoundary;
  rateLimiter: RateLimiter;
}

export function edge({ context, boundary, rateLimiter }: EdgeParts) {
  async function guarded(ctx: Context, next: Next): Promise<void> {
    try {
      setSecurityHeaders(ctx);
      checkRequestLimits(ctx);
      await checkRequestText(ctx);
      const admission = await rateLimiter.admit(ctx);
      if (!admission) return;
      try {
        await next();
      } finally {
        admission.settle(ctx);
      }
      correctErrorCodes(ctx);
      allowFormPostTarget(ctx);
      boundary.review(ctx);
    } catch (caught) {
      boundary.answer(ctx, caught);
    }
  }

  return async function edgeMiddleware(ctx: Context, next: Next): Promise<void> {
    const opened = context.open(ctx);
    try {
      await requestFacts.run(opened.facts, guarded, ctx, next);
    } finally {
      context.close(ctx, opened);
    }
  };
}
