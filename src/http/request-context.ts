import { randomUUID } from 'node:crypto';

import type { Context } from 'koa';
import type { Logger } from 'pino';

import type { RequestFacts } from '../observability/request-facts.js';
import type { ClientAddress } from './client-ip.js';
import { accessLogger } from '../observability/logger.js';

const validRequestId = /^[A-Za-z0-9._:-]{8,128}$/;
const forwardedHeaders = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded'];

/**
 * A bounded route label for logs and metrics: the route table's label
 * (src/http/route-table.ts; the edge resolves the route before `open`), or
 * for the sign-in pages their router's pattern (`/interaction/:uid/login`).
 * A path in no route is `unmatched`, so a scanner's random paths cannot
 * explode metric cardinality.
 */
export function routeLabel(ctx: Context): string {
  const route = (ctx.state as { route?: { name: string; label: string } }).route;
  if (!route) return 'unmatched';
  if (route.name === 'interaction') {
    const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
    if (typeof matched === 'string') return matched;
  }
  return route.label;
}

export interface RequestContextOptions {
  clientAddress: ClientAddress;
  onComplete?: (route: string, method: string, status: number, seconds: number) => void;
}

/** What `open` settled about a request, for `close` and for the audit log. */
export interface OpenedRequest {
  started: bigint;
  facts: RequestFacts;
}

export interface RequestContext {
  open(ctx: Context): OpenedRequest;
  close(ctx: Context, opened: OpenedRequest): void;
}

/**
 * The first and last thing of every request (src/http/edge.ts calls both).
 * `open` settles who the client is (forwarded headers from anyone but a
 * trusted proxy are deleted before koa or the library can read them) and
 * gives the request an id (a trusted proxy's, or a new one) echoed in
 * `X-Request-Id`; the edge publishes both to the audit log. `close` writes one
 * log line and the request metrics. The path is logged without its query
 * string, which can carry codes and tokens.
 */
export function requestContext(log: Logger, options: RequestContextOptions): RequestContext {
  const access = accessLogger(log);
  return {
    open(ctx) {
      const started = process.hrtime.bigint();
      const peer = options.clientAddress.resolve(ctx.req.socket.remoteAddress, ctx.get('X-Forwarded-For') || undefined);
      if (!peer.viaTrustedProxy) for (const name of forwardedHeaders) delete ctx.req.headers[name];
      ctx.request.ip = peer.ip;
      const incoming = ctx.get('X-Request-Id');
      const requestId = peer.viaTrustedProxy && validRequestId.test(incoming) ? incoming : randomUUID();
      ctx.state.requestId = requestId;
      ctx.set('X-Request-Id', requestId);
      return { started, facts: { requestId, ip: peer.ip } };
    },

    close(ctx, { started, facts }) {
      const oidc = (ctx as { oidc?: { client?: { clientId: string } } }).oidc;
      const status = ctx.status;
      const route = routeLabel(ctx);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      options.onComplete?.(route, ctx.method, status, seconds);
      const line = {
        requestId: facts.requestId,
        method: ctx.method,
        path: ctx.path.length > 256 ? `${ctx.path.slice(0, 256)}…` : ctx.path,
        route,
        status,
        latencyMs: Math.round(seconds * 1e6) / 1e3,
        clientId: oidc?.client?.clientId,
        ip: facts.ip,
        ...(ctx.state.rateLimited ? { rateLimited: ctx.state.rateLimited } : {}),
      };
      if (status >= 500) access.error(line, 'request');
      else access.info(line, 'request');
    },
  };
}
