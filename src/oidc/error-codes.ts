import type { Context } from 'koa';

/**
 * oidc-provider 9 answers "this client may not use that grant/response type"
 * with `invalid_request`; RFC 6749 names that case `unauthorized_client`
 * (§5.2 for the token endpoint, §4.1.2.1 for the authorization endpoint).
 * Relying parties branch on the code, so it is corrected here, keyed on the
 * library's exact descriptions (a library upgrade that rewords them fails the
 * test that covers this, rather than silently changing behaviour).
 */
const unauthorizedClientDescriptions = new Set([
  'requested grant type is not allowed for this client',
  'requested response_type is not allowed for this client',
  'authorization_code is not allowed for this client',
]);

/**
 * RFC 6749 §5.2: a client that tried to authenticate with the Authorization
 * header and failed MUST get 401 with a WWW-Authenticate challenge. The
 * library does so for a wrong secret but answers an expired one
 * (`client_secret_expires_at`, RFC 7591) with 400.
 */
function challengeFailedBasicAuthentication(ctx: Context, body: { error?: unknown; error_description?: unknown }): void {
  if (ctx.status !== 400 || body.error !== 'invalid_client' || !/^Basic\s/i.test(ctx.get('Authorization'))) return;
  const issuer = (ctx as { oidc?: { provider?: { issuer?: string } } }).oidc?.provider?.issuer;
  const quoted = (value: string) => `"${value.replace(/["\\]/g, '')}"`;
  ctx.status = 401;
  ctx.set('WWW-Authenticate', `Basic realm=${quoted(issuer ?? '')}, error="invalid_client", error_description=${quoted(String(body.error_description ?? 'client authentication failed'))}`);
}

/** Rewrites a finished answer in place (src/http/edge.ts calls it after the handlers). */
export function correctErrorCodes(ctx: Context): void {
  const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
  if (body && typeof body === 'object') challengeFailedBasicAuthentication(ctx, body);
  if (body && typeof body === 'object' && body.error === 'invalid_request' && unauthorizedClientDescriptions.has(String(body.error_description))) {
    body.error = 'unauthorized_client';
    return;
  }
  const location = ctx.response.get('Location');
  if (ctx.status >= 300 && ctx.status < 400 && location.includes('error=invalid_request')) {
    const url = new URL(location);
    for (const params of [url.searchParams, new URLSearchParams(url.hash.slice(1))]) {
      if (params.get('error') === 'invalid_request' && unauthorizedClientDescriptions.has(params.get('error_description') ?? '')) {
        params.set('error', 'unauthorized_client');
        if (params !== url.searchParams) url.hash = params.toString();
        ctx.set('Location', url.href);
      }
    }
  }
}
