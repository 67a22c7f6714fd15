/**
 * Which listener a request came in on, and what each may serve. With a
 * separate admin listener (GATEHOUSE_ADMIN_PORT), it answers only /admin/v1
 * and the main and mTLS listeners answer 404 there, so the admin plane can
 * sit on a private address that the public listener does not expose. Both
 * refusals are RFC 9457 problem details, as the admin API's own are.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Context } from 'koa';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const fromAdminListener = new WeakSet<IncomingMessage>();

/** The admin listener's handler: marks each request as its own, then hands it on. */
export function onAdminListener(handler: Handler): Handler {
  return (req, res) => {
    fromAdminListener.add(req);
    handler(req, res);
  };
}

/** Served on both: the stylesheet of the admin API's reference page. */
const shared = new Set(['static']);

/** true when the request was answered here (404): it came to the wrong listener for its route. */
export function refuseOffListener(ctx: Context, separateAdmin: boolean, routeName: string): boolean {
  if (!separateAdmin || shared.has(routeName)) return false;
  const isAdminRoute = routeName === 'admin';
  if (fromAdminListener.has(ctx.req) === isAdminRoute) return false;
  ctx.status = 404;
  ctx.type = 'application/problem+json';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = {
    type: 'about:blank',
    title: 'Not Found',
    status: 404,
    detail: isAdminRoute ? 'The admin API is not served on this listener.' : 'This listener serves only the admin API, under /admin/v1.',
    instance: `urn:gatehouse:request:${String(ctx.state.requestId ?? '')}`,
  };
  return true;
}
