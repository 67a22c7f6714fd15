/**
 * Every path Gatehouse serves, in one table, read like panva's pipeline
 * lists: the library's endpoints (oidc-provider 9, lib/helpers/initialize_app.js
 * registers them under these names) and Gatehouse's own. Each entry says what
 * the edge needs to know before anything else runs: page or API (the shape of
 * an error), the rate-limit class, the body limit, the metric label, whether
 * discovery lists it among the RFC 8705 mTLS endpoint aliases, and, for the
 * admin plane, whether a token is needed and which scopes.
 *
 * The library's `routes` configuration is built from this table, so a path
 * is written once. A path that is in no entry is still answered, limited
 * (class `other`) and labelled (`unmatched`): nothing escapes the edge.
 * test/integration/routes/route-table.test.ts enumerates what the built
 * provider serves and fails on any route missing here.
 */
import type { RateLimitClass } from '../config/index.js';

const KiB = 1024;

/** How an error is answered: a page for a person, JSON for a program, or by the Accept header. */
export type RouteKind = 'page' | 'api' | 'negotiated';

/**
 * The budget a request spends (src/http/rate-limit.ts). `unlimited` is for
 * probes a load balancer or a scraper sends from one address all day.
 */
export type RouteRateLimit = RateLimitClass | 'unlimited';

/** oidc-provider's `routes` configuration keys (lib/helpers/defaults.js). */
export type LibraryRouteKey =
  | 'authorization' | 'backchannel_authentication' | 'code_verification' | 'challenge' | 'device_authorization'
  | 'end_session' | 'introspection' | 'jwks' | 'pushed_authorization_request' | 'registration' | 'revocation'
  | 'token' | 'userinfo' | 'credential';

/** Discovery's `mtls_endpoint_aliases` members (RFC 8705 §5). */
export type MtlsAlias =
  | 'token_endpoint' | 'introspection_endpoint' | 'revocation_endpoint' | 'userinfo_endpoint'
  | 'pushed_authorization_request_endpoint' | 'device_authorization_endpoint' | 'backchannel_authentication_endpoint';

/** The oidc-provider feature an endpoint belongs to, when it is optional. */
export type LibraryFeature = 'introspection' | 'revocation' | 'userinfo' | 'registration' | 'rpInitiatedLogout' | 'deviceFlow' | 'ciba' | 'pushedAuthorizationRequests' | 'attestClientAuth' | 'openid4vci';

export interface Route {
  /** The library's route name, or ours; unique. */
  readonly name: string;
  /** `exact`: this path only; `under`: anything below it (`/reg/<id>`); `tree`: both. */
  readonly path: string;
  readonly match: 'exact' | 'under' | 'tree';
  readonly owner: 'library' | 'gatehouse';
  readonly kind: RouteKind;
  readonly rateLimit: RouteRateLimit;
  /** Bytes; oidc-provider's own parser stops at 56 KiB whatever is allowed here. */
  readonly bodyLimit: number;
  /** Metric and log label: bounded, whatever the path. */
  readonly label: string;
  /** A client-authenticated POST that may name its client in the form body (the limiter reads it ahead). */
  readonly clientInBody?: boolean;
  readonly mtlsAlias?: MtlsAlias;
  /** The key of the library's `routes` option this entry's path configures. */
  readonly libraryRoute?: LibraryRouteKey;
  readonly feature?: LibraryFeature;
  /** Set on a successful answer that set none itself. */
  readonly cacheControl?: string;
  /** The admin plane: a Gatehouse access token is needed, with these scopes (none decided yet). */
  readonly token?: { readonly required: boolean; readonly scopes: readonly string[] };
  /** Not served yet: held for the features that come next, so nothing else claims the path. */
  readonly reserved?: boolean;
}

const api = { kind: 'api', bodyLimit: 16 * KiB } as const;
const page = { kind: 'page', bodyLimit: 16 * KiB } as const;
const library = { owner: 'library' } as const;
const own = { owner: 'gatehouse' } as const;
/** Discovery changes only with configuration; a day would outlive a deploy, five minutes does not. */
const discoveryCache = 'public, max-age=300';

export const routeTable: readonly Route[] = [
  // The authorization endpoint and its resume step after an interaction (RFC 6749 §3.1).
  { ...library, ...page, name: 'authorization', path: '/auth', match: 'exact', libraryRoute: 'authorization', rateLimit: 'authorization', bodyLimit: 32 * KiB, label: 'authorization', clientInBody: true },
  { ...library, ...page, name: 'resume', path: '/auth', match: 'under', rateLimit: 'authorization', label: 'resume' },
  { ...library, ...api, name: 'pushed_authorization_request', path: '/request', match: 'exact', libraryRoute: 'pushed_authorization_request', feature: 'pushedAuthorizationRequests', rateLimit: 'authorization', bodyLimit: 32 * KiB, label: 'pushed_authorization_request', clientInBody: true, mtlsAlias: 'pushed_authorization_request_endpoint' },
  { ...library, ...api, name: 'token', path: '/token', match: 'exact', libraryRoute: 'token', rateLimit: 'token', label: 'token', clientInBody: true, mtlsAlias: 'token_endpoint' },
  { ...library, ...api, name: 'introspection', path: '/token/introspection', match: 'exact', libraryRoute: 'introspection', feature: 'introspection', rateLimit: 'introspection', label: 'introspection', clientInBody: true, mtlsAlias: 'introspection_endpoint' },
  { ...library, ...api, name: 'revocation', path: '/token/revocation', match: 'exact', libraryRoute: 'revocation', feature: 'revocation', rateLimit: 'introspection', label: 'revocation', clientInBody: true, mtlsAlias: 'revocation_endpoint' },
  { ...library, ...api, name: 'userinfo', path: '/me', match: 'exact', libraryRoute: 'userinfo', feature: 'userinfo', rateLimit: 'introspection', label: 'userinfo', mtlsAlias: 'userinfo_endpoint' },
  { ...library, ...api, name: 'registration', path: '/reg', match: 'exact', libraryRoute: 'registration', feature: 'registration', rateLimit: 'registration', bodyLimit: 48 * KiB, label: 'registration' },
  { ...library, ...api, name: 'client', path: '/reg', match: 'under', feature: 'registration', rateLimit: 'registration', bodyLimit: 48 * KiB, label: 'client' },
  { ...library, ...page, name: 'end_session', path: '/session/end', match: 'exact', libraryRoute: 'end_session', feature: 'rpInitiatedLogout', rateLimit: 'authorization', label: 'end_session' },
  { ...library, ...page, name: 'end_session_confirm', path: '/session/end/confirm', match: 'exact', rateLimit: 'authorization', label: 'end_session_confirm' },
  { ...library, ...page, name: 'end_session_success', path: '/session/end/success', match: 'exact', feature: 'rpInitiatedLogout', rateLimit: 'authorization', label: 'end_session_success' },
  // Served by Gatehouse in front of the library (src/oidc/jwks.ts); the library registers it too.
  { ...library, ...api, name: 'jwks', path: '/jwks', match: 'exact', libraryRoute: 'jwks', rateLimit: 'other', label: 'jwks' },
  { ...library, ...api, name: 'discovery', path: '/.well-known/openid-configuration', match: 'exact', rateLimit: 'other', label: 'discovery', cacheControl: discoveryCache },
  { ...library, ...api, name: 'oauth_discovery', path: '/.well-known/oauth-authorization-server', match: 'exact', rateLimit: 'other', label: 'discovery', cacheControl: discoveryCache },
  // RFC 8414 §3.1: the path-inserted form for an issuer with a path (src/oidc/authorization-server-metadata.ts).
  { ...own, ...api, name: 'oauth_discovery_path', path: '/.well-known/oauth-authorization-server', match: 'under', rateLimit: 'other', label: 'discovery', cacheControl: discoveryCache },
  // Features Gatehouse does not enable yet: their paths are known, so enabling one cannot escape the edge.
  { ...library, ...api, name: 'device_authorization', path: '/device/auth', match: 'exact', libraryRoute: 'device_authorization', feature: 'deviceFlow', rateLimit: 'authorization', label: 'device_authorization', clientInBody: true, mtlsAlias: 'device_authorization_endpoint' },
  { ...library, ...page, name: 'code_verification', path: '/device', match: 'exact', libraryRoute: 'code_verification', feature: 'deviceFlow', rateLimit: 'interaction', label: 'code_verification' },
  { ...library, ...page, name: 'device_resume', path: '/device', match: 'under', feature: 'deviceFlow', rateLimit: 'authorization', label: 'device_resume' },
  { ...library, ...api, name: 'backchannel_authentication', path: '/backchannel', match: 'exact', libraryRoute: 'backchannel_authentication', feature: 'ciba', rateLimit: 'authorization', label: 'backchannel_authentication', clientInBody: true, mtlsAlias: 'backchannel_authentication_endpoint' },
  { ...library, ...api, name: 'challenge', path: '/challenge', match: 'exact', libraryRoute: 'challenge', feature: 'attestClientAuth', rateLimit: 'token', label: 'challenge' },
  { ...library, ...api, name: 'credential', path: '/credential', match: 'exact', libraryRoute: 'credential', feature: 'openid4vci', rateLimit: 'token', label: 'credential' },
  { ...library, ...api, name: 'openid_credential_issuer', path: '/.well-known/openid-credential-issuer', match: 'exact', feature: 'openid4vci', rateLimit: 'other', label: 'openid_credential_issuer', cacheControl: discoveryCache },

  // Gatehouse's own.
  { ...own, ...page, name: 'home', path: '/', match: 'exact', rateLimit: 'other', label: 'home' },
  // First run (src/interactions/setup.ts): the form's password reaches argon2, so it spends the sign-in pages' budget.
  { ...own, ...page, name: 'setup', path: '/setup', match: 'exact', rateLimit: 'interaction', label: 'setup' },
  { ...own, ...page, name: 'interaction', path: '/interaction', match: 'under', rateLimit: 'interaction', label: 'interaction' },
  // Password recovery and email verification (src/interactions/recovery.ts): forms a person fills, at the sign-in pages' budget.
  { ...own, ...page, name: 'recovery', path: '/recovery', match: 'tree', rateLimit: 'interaction', label: 'recovery' },
  // Self-service sign-up and invitations (src/interactions/signup.ts; 404 unless GATEHOUSE_SIGNUP is on): the form's password reaches argon2.
  { ...own, ...page, name: 'signup', path: '/signup', match: 'tree', rateLimit: 'interaction', label: 'signup' },
  { ...own, ...page, name: 'verify_email', path: '/verify-email', match: 'exact', rateLimit: 'interaction', label: 'verify_email' },
  // The one redirect URI every upstream identity provider returns to (src/interactions/federation.ts).
  { ...own, ...page, name: 'federation_callback', path: '/federation/callback', match: 'exact', rateLimit: 'interaction', label: 'federation_callback' },
  // Public keys of Gatehouse's private_key_jwt clients at upstreams, and upstreams' back-channel logout (src/http/federation-routes.ts).
  { ...own, ...api, name: 'federation_jwks', path: '/federation/jwks', match: 'exact', rateLimit: 'other', label: 'federation_jwks' },
  { ...own, ...api, name: 'federation_backchannel_logout', path: '/federation/backchannel-logout', match: 'exact', rateLimit: 'token', label: 'federation_backchannel_logout' },
  // Where an upstream's logout returns the browser when RP-initiated logout ended its session too (src/federation/session-end.ts).
  { ...own, ...page, name: 'federation_logout_return', path: '/federation/logout-return', match: 'exact', rateLimit: 'interaction', label: 'federation_logout_return' },
  { ...own, ...page, name: 'static', path: '/static', match: 'under', rateLimit: 'other', label: 'static' },
  { ...own, ...page, name: 'favicon', path: '/favicon.ico', match: 'exact', rateLimit: 'other', label: 'favicon.ico' },
  { ...own, ...api, name: 'healthz', path: '/healthz', match: 'exact', rateLimit: 'unlimited', label: 'healthz' },
  { ...own, ...api, name: 'readyz', path: '/readyz', match: 'exact', rateLimit: 'unlimited', label: 'readyz' },
  { ...own, ...api, name: 'metrics', path: '/metrics', match: 'exact', rateLimit: 'unlimited', label: 'metrics' },
  // Admin API bodies: a client's PEM certificate is the largest field (src/admin/schemas.ts). Each operation's scope is in src/admin/routes/.
  { ...own, ...api, name: 'admin', path: '/admin/v1', match: 'tree', rateLimit: 'admin', bodyLimit: 64 * KiB, label: 'admin', token: { required: true, scopes: [] } },
  { ...own, ...page, name: 'account', path: '/account', match: 'tree', rateLimit: 'other', label: 'account', reserved: true },
  // The admin console (src/console/routes.ts); its /console/api/… calls run the admin router (each operation's scope there).
  { ...own, ...page, name: 'console', path: '/console', match: 'tree', rateLimit: 'other', bodyLimit: 64 * KiB, label: 'console' },
];

/** What a path in no entry is: limited, labelled, and answered by content negotiation. */
export const unmatchedRoute: Route = { ...own, kind: 'negotiated', bodyLimit: 16 * KiB, name: 'unmatched', path: '', match: 'exact', rateLimit: 'other', label: 'unmatched' };

export interface RouteIndex {
  /** The route a request path belongs to; `unmatchedRoute` when none. One map lookup for an exact path. */
  resolve(path: string): Route;
  byName(name: string): Route;
  readonly routes: readonly Route[];
}

/** Lower-cases ASCII letters only, as the library's router folds case (lib/helpers/router.js `fold`). */
function foldAscii(path: string): string | undefined {
  let upper = false;
  for (let i = 0; i < path.length; i += 1) {
    const code = path.charCodeAt(i);
    // A non-ASCII character never folds to an ASCII one there: no library path can match.
    if (code > 127) return undefined;
    if (code >= 65 && code <= 90) upper = true;
  }
  // All ASCII, so toLowerCase changes A-Z only.
  return upper ? path.toLowerCase() : path;
}

/**
 * Builds the lookup once. An exact path is one Map lookup (the token
 * endpoint's hot path); a path below a prefix costs one lookup per segment
 * boundary, at most three. The library matches its paths case-insensitively
 * and with one trailing slash (lib/helpers/router.js `match`), so a miss is
 * retried that way among the library's routes: `/TOKEN/` is the token
 * endpoint for the library and must be for the limiter too.
 */
export function indexRoutes(routes: readonly Route[]): RouteIndex {
  const exact = new Map<string, Route>();
  const under = new Map<string, Route>();
  const names = new Map<string, Route>();
  for (const route of routes) {
    if (names.has(route.name)) throw new Error(`route table: duplicate name ${route.name}`);
    names.set(route.name, route);
    if (route.match !== 'under') {
      if (exact.has(route.path)) throw new Error(`route table: ${route.path} listed twice`);
      exact.set(route.path, route);
    }
    if (route.match !== 'exact') {
      if (under.has(route.path)) throw new Error(`route table: ${route.path}/… listed twice`);
      under.set(route.path, route);
    }
  }

  function lookup(path: string): Route | undefined {
    const hit = exact.get(path);
    if (hit) return hit;
    // At most three segments deep: `/admin/v1/…` is the deepest prefix.
    for (let i = path.indexOf('/', 1), depth = 0; i > 0 && depth < 3; i = path.indexOf('/', i + 1), depth += 1) {
      const prefix = under.get(path.slice(0, i));
      if (prefix) return prefix;
    }
    return undefined;
  }

  return {
    routes,
    resolve(path) {
      const hit = lookup(path);
      if (hit) return hit;
      let folded = foldAscii(path);
      if (folded !== undefined && folded.length > 1 && folded.endsWith('/')) folded = folded.slice(0, -1);
      if (folded === undefined || folded === path) return unmatchedRoute;
      const libraryHit = lookup(folded);
      return libraryHit?.owner === 'library' ? libraryHit : unmatchedRoute;
    },
    byName(name) {
      const route = names.get(name);
      if (!route) throw new Error(`route table: no route named ${name}`);
      return route;
    },
  };
}

export const routes = indexRoutes(routeTable);

/** oidc-provider's `routes` option, from the table. */
export function libraryRoutes(index: RouteIndex = routes): Record<LibraryRouteKey, string> {
  const out = {} as Record<LibraryRouteKey, string>;
  for (const route of index.routes) if (route.libraryRoute) out[route.libraryRoute] = route.path;
  return out;
}

/** Discovery's `mtls_endpoint_aliases` on `origin` for the endpoints whose feature is on. */
export function mtlsEndpointAliases(origin: string, enabled: (feature: LibraryFeature) => boolean, index: RouteIndex = routes): Partial<Record<MtlsAlias, string>> {
  const out: Partial<Record<MtlsAlias, string>> = {};
  for (const route of index.routes) {
    if (route.mtlsAlias && (!route.feature || enabled(route.feature))) out[route.mtlsAlias] = `${origin}${route.path}`;
  }
  return out;
}

/** The route the edge resolved for this request (src/http/edge.ts sets it first of all). */
export function routeOf(ctx: { state: { route?: Route } }): Route {
  return ctx.state.route ?? unmatchedRoute;
}
