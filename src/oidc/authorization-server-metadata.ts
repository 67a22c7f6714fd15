/**
 * RFC 8414 authorization server metadata. The library answers
 * `/.well-known/oauth-authorization-server` with the same document as
 * OpenID discovery (lib/helpers/initialize_app.js, oidc-provider 9.13.3), so
 * both always agree. For an issuer with a path, RFC 8414 §3.1 puts the
 * document at the well-known prefix followed by that path
 * (`https://host/tenant` → `https://host/.well-known/oauth-authorization-server/tenant`),
 * which is where MCP clients and oauth4webapi look first; this serves that
 * form by handing the request to the library's own route, so there is one
 * document. Any other path below the prefix is not found.
 */
import type { Context, Next } from 'koa';

const prefix = '/.well-known/oauth-authorization-server';

export function pathInsertedMetadata(issuer: string) {
  const issuerPath = new URL(issuer).pathname.replace(/\/$/, '');
  const inserted = issuerPath ? `${prefix}${issuerPath}` : undefined;
  return function pathInsertedMetadataRoute(ctx: Context, next: Next): unknown {
    if (inserted === undefined || ctx.path !== inserted) return next();
    ctx.path = prefix;
    return next();
  };
}
