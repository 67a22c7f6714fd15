/**
 * A resource server (an API) that accepts Gatehouse access tokens: a koa app
 * that validates JWT access tokens (RFC 9068) offline against Gatehouse's JWKS
 * and, for certificate-bound tokens (RFC 8705 §3), checks that the caller's
 * TLS client certificate is the one the token was bound to; for DPoP-bound
 * tokens (RFC 9449 §7), that the request carries a valid proof by the key the
 * token was bound to (examples/resource-server/dpop.ts).
 *
 * Run it: `npx tsx examples/resource-server/api.ts` (see docs/resource-servers.md).
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';

import Koa from 'koa';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

import { createJtiCache, dpopAlgorithms, dpopProblem } from './dpop.js';
import { metadataPath, resourceMetadata, resourceMetadataParam } from './metadata.js';

export interface ApiOptions {
  issuer: string;
  audience: string;
  /** Where to fetch the JWKS; defaults to `${issuer}/jwks`. */
  jwksUrl?: string;
  tls: { key: string; cert: string };
  /** The API's origin as clients see it (the `htu` of DPoP proofs); defaults to the request's own. */
  publicOrigin?: string;
  /** How old (or how far in the future) a DPoP proof's iat may be, in seconds. */
  dpopWindowSeconds?: number;
  /** Scopes the API names in its RFC 9728 metadata. */
  scopes?: string[];
}

/** RFC 8705 §3.1: base64url SHA-256 of the DER certificate. */
export function certificateThumbprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('base64url');
}

function challenge(ctx: Koa.Context, error: string, description: string, scheme: 'Bearer' | 'DPoP' = 'Bearer') {
  // RFC 6750 §3 and RFC 9449 §7.1: the error travels in WWW-Authenticate, DPoP naming the algorithms it accepts;
  // RFC 9728 §5.1: every challenge names the metadata, so a client that has never seen the API finds its authorization server.
  ctx.status = 401;
  const metadata = ctx.state.resourceMetadata as string;
  ctx.set('WWW-Authenticate', `${scheme} error="${error}", error_description="${description}"${scheme === 'DPoP' ? `, algs="${dpopAlgorithms.join(' ')}"` : ''}, ${metadata}`);
  ctx.body = { error, error_description: description };
}

export function createApi(options: ApiOptions): Koa {
  const jwks = createRemoteJWKSet(new URL(options.jwksUrl ?? `${options.issuer}/jwks`));
  const window = options.dpopWindowSeconds ?? 120;
  const jtis = createJtiCache(window * 2);
  const app = new Koa();
  const metadataDocument = resourceMetadata({ resource: options.audience, issuer: options.issuer, scopes: options.scopes ?? [] });
  app.use(async (ctx) => {
    if (ctx.method === 'GET' && ctx.path === metadataPath(options.audience)) {
      ctx.body = metadataDocument;
      return;
    }
    ctx.state.resourceMetadata = resourceMetadataParam(options.publicOrigin ?? `${ctx.protocol}://${ctx.host}`, options.audience);
    const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/i.exec(ctx.get('authorization'));
    if (!match) return challenge(ctx, 'invalid_request', 'a Bearer or DPoP access token is required');
    const scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    const token = match[2]!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer: options.issuer, audience: options.audience, typ: 'at+jwt', algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'] }));
    } catch {
      return challenge(ctx, 'invalid_token', 'the access token is not valid', scheme);
    }
    const jkt = (payload.cnf as Record<string, unknown> | undefined)?.jkt;
    if (typeof jkt === 'string') {
      // RFC 9449 §7.2: a DPoP-bound token is never accepted as a bearer token.
      if (scheme !== 'DPoP') return challenge(ctx, 'invalid_token', 'the access token is DPoP-bound: use the DPoP scheme with a proof', 'DPoP');
      const problem = await dpopProblem(
        { method: ctx.method, url: new URL(ctx.originalUrl, options.publicOrigin ?? `${ctx.protocol}://${ctx.host}`), proofs: ctx.req.headersDistinct.dpop ?? [], accessToken: token, jkt },
        jtis,
        window,
      );
      if (problem) return challenge(ctx, 'invalid_dpop_proof', problem, 'DPoP');
    } else if (scheme === 'DPoP') {
      return challenge(ctx, 'invalid_token', 'the access token is not DPoP-bound', 'DPoP');
    }
    const bound = (payload.cnf as Record<string, unknown> | undefined)?.['x5t#S256'];
    if (bound !== undefined) {
      const certificate = (ctx.req.socket as TLSSocket).getPeerX509Certificate?.();
      if (!certificate || certificateThumbprint(certificate) !== bound) {
        return challenge(ctx, 'invalid_token', 'the access token is bound to another client certificate');
      }
    }
    ctx.body = { ok: true, sub: payload.sub, client_id: payload.client_id, scope: payload.scope };
  });
  return app;
}

/** The API on its own mTLS listener: it asks for a client certificate but lets the token decide. */
export async function listen(options: ApiOptions, port = 0, host = '127.0.0.1'): Promise<{ server: Server; url: string }> {
  const app = createApi(options);
  const handle = app.callback();
  // koa's callback answers its own errors; node's request listener ignores the promise it returns.
  const server = createServer({ ...options.tls, requestCert: true, rejectUnauthorized: false }, (req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address() as { port: number };
  return { server, url: `https://${host}:${address.port}` };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { readFileSync } = await import('node:fs');
  const env = process.env;
  const { url } = await listen(
    {
      issuer: env.ISSUER ?? 'http://localhost:3000',
      audience: env.AUDIENCE ?? 'https://api.example.com',
      tls: { key: readFileSync(env.TLS_KEY ?? 'data/tls/server-key.pem', 'utf8'), cert: readFileSync(env.TLS_CERT ?? 'data/tls/server.pem', 'utf8') },
    },
    Number(env.PORT ?? 4443),
  );
  process.stdout.write(`example API listening on ${url}\n`);
}
