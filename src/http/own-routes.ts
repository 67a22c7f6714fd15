/**
 * Gatehouse's own routes in front of the library's, found with one lookup:
 * a request for anything else (the library's endpoints) passes through
 * without visiting each of them in turn.
 */
import type { Context, Middleware, Next } from 'koa';

export interface OwnRoutes {
  /** Handlers by exact path; each answers, or calls `next` for a method it does not serve. */
  exact: Record<string, Middleware>;
  /** Handlers by path prefix, tried in order when no exact path matched. */
  prefixes: Array<[prefix: string, handler: Middleware]>;
}

export function ownRoutes({ exact, prefixes }: OwnRoutes) {
  const byPath = new Map(Object.entries(exact));
  return function ownRoutesMiddleware(ctx: Context, next: Next): unknown {
    const path = ctx.path;
    const handler = byPath.get(path) ?? prefixes.find(([prefix]) => path.startsWith(prefix))?.[1];
    return handler ? handler(ctx, next) : next();
  };
}
