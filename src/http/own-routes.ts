/**
 * Gatehouse's own handlers in front of the library's, keyed by route-table
 * name: the edge has already resolved the request's route (one lookup), so a
 * request for anything else (the library's endpoints) passes through without
 * visiting each handler in turn.
 */
import type { Context, Middleware, Next } from 'koa';

import { routeOf, routes } from './route-table.js';

/** Handlers by route name; each answers, or calls `next` for a method or sub-path it does not serve. */
export function ownRoutes(handlers: Record<string, Middleware>) {
  // A handler for a name the table does not have would never run: fail at start-up instead.
  for (const name of Object.keys(handlers)) routes.byName(name);
  const byName = new Map(Object.entries(handlers));
  return function ownRoutesMiddleware(ctx: Context, next: Next): unknown {
    const handler = byName.get(routeOf(ctx).name);
    return handler ? handler(ctx, next) : next();
  };
}
