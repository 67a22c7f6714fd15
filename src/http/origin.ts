/**
 * The Host header is not trusted. Koa builds `ctx.href` (and the library,
 * through `ctx.oidc.urlFor`, every endpoint URL in discovery, the DPoP `htu`
 * it expects, a client assertion's accepted audiences, form actions) from
 * whatever Host or absolute request target a client sends (koa
 * lib/request.js `href`, oidc-provider lib/helpers/oidc_context.js `urlFor`):
 * a poisoned cache could hand every relying party an attacker's token
 * endpoint. Here the origin comes from configuration only: the issuer's, or
 * the mTLS listener's (RFC 8705 §5 aliases are requested there, so the
 * library must see that origin for DPoP and assertion audiences). The Host
 * only picks between the two; any other well-formed Host gets the issuer's.
 * A malformed one (RFC 9110 §7.2: uri-host [":" port]) is a 400 here, not a
 * TypeError in a URL constructor deep inside the library.
 */
import type { Context } from 'koa';

import { HttpProblem } from './errors.js';

export interface CanonicalOrigins {
  /** The configured origin this request is answered under; throws HttpProblem 400 for a malformed Host. */
  of(ctx: Context): string;
}

const hostSyntax = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{0,5}))?$/;
/** Distinct Host values seen lately: clients send the same few, so each is judged once. */
const maxRemembered = 256;

/** The host a Host value names, lower-cased with its port, or undefined when it is not one. */
function parseHost(value: string): string | undefined {
  const match = hostSyntax.exec(value);
  if (!match) return undefined;
  if (match[1] && Number(match[1]) > 65535) return undefined;
  try {
    return new URL(`http://${value}`).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/** A host's port made explicit, so `example.com` and `example.com:443` name the same https origin. */
function withPort(url: URL): string {
  return `${url.hostname.toLowerCase()}:${url.port || (url.protocol === 'https:' ? '443' : '80')}`;
}

export function canonicalOrigins(issuer: string, mtlsOrigin: string | undefined): CanonicalOrigins {
  const issuerOrigin = new URL(issuer).origin;
  const mtls = mtlsOrigin ? new URL(mtlsOrigin) : undefined;
  const mtlsHosts = mtls ? new Set([mtls.host.toLowerCase(), withPort(mtls)]) : new Set<string>();
  const remembered = new Map<string, string | null>();

  function judge(value: string): string | null {
    const host = parseHost(value);
    if (host === undefined) return null;
    return mtls && (mtlsHosts.has(host) || mtlsHosts.has(`${host}:443`)) ? mtls.origin : issuerOrigin;
  }

  return {
    of(ctx) {
      // The peer's own Host, or what a trusted proxy forwards (untrusted peers' X-Forwarded-*
      // headers are deleted before this runs: src/observability/request-context.ts).
      const forwarded = ctx.app.proxy ? ctx.req.headers['x-forwarded-host'] : undefined;
      const named = typeof forwarded === 'string' && forwarded ? forwarded.split(',', 1)[0]!.trim() : ctx.req.headers.host;
      // HTTP/1.0 without Host (HTTP/1.1 without one never gets here: node answers 400).
      if (named === undefined || named === '') return issuerOrigin;
      let origin = remembered.get(named);
      if (origin === undefined) {
        if (remembered.size >= maxRemembered) remembered.clear();
        origin = judge(named);
        remembered.set(named, origin);
      }
      if (origin === null) throw new HttpProblem(400, 'invalid_request', 'The Host header is not valid.');
      return origin;
    },
  };
}

/**
 * Makes `ctx.host` and `ctx.href` of every request to this koa app read the
 * origin the edge settled (`ctx.state.origin`) instead of the request's Host.
 * Defined once on the app's request prototype, so a request pays nothing.
 * `protocol` and `secure` stay facts about the connection (cookies and HSTS
 * depend on them); koa 3's `origin` is the Origin header, which CORS needs.
 */
export function pinRequestOrigin(app: { request: object }, fallback: string): void {
  const originOf = (request: { ctx?: { state?: { origin?: string } } }) => request.ctx?.state?.origin ?? fallback;
  Object.defineProperties(app.request, {
    host: {
      configurable: true,
      get(this: { ctx?: { state?: { origin?: string } } }) {
        const origin = originOf(this);
        return origin.slice(origin.indexOf('//') + 2);
      },
    },
    href: {
      configurable: true,
      get(this: { ctx?: { state?: { origin?: string } }; originalUrl: string }) {
        const target = this.originalUrl;
        // An absolute request target (`GET http://evil.example/x`) keeps its path, never its authority.
        if (!target.startsWith('/')) {
          try {
            const url = new URL(target);
            return `${originOf(this)}${url.pathname}${url.search}`;
          } catch {
            return `${originOf(this)}/`;
          }
        }
        return `${originOf(this)}${target}`;
      },
    },
  });
}
