import type { Context } from 'koa';

/**
 * CSP for every response: no inline script or style anywhere (the library's
 * form_post page adds the hash of its one script itself), no framing, no
 * plugins. No nonces: a nonce exists to let chosen inline scripts run, and
 * Gatehouse pages have none, so `script-src 'self'` with no inline allowance
 * at all is the stricter policy (a nonce would only widen it). `form-action` is widened per page to the one origin a form's
 * redirect chain ends at, because browsers apply it to redirects after submit.
 */
export function contentSecurityPolicy(formTargets: readonly string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    // The passkey script fetches its ceremony options from this origin (views/static/passkeys.js).
    "connect-src 'self'",
    `form-action 'self'${formTargets.map((t) => ` ${t}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** The CSP source expression for where a redirect URI sends the browser (origin, or scheme for native apps). */
export function formTargetFor(uri: unknown): string[] {
  if (typeof uri !== 'string') return [];
  try {
    const url = new URL(uri);
    if (url.protocol === 'http:' || url.protocol === 'https:') return [url.origin];
    return [url.protocol];
  } catch {
    return [];
  }
}

/**
 * The CSP source expression for exactly one URL: origin and path (CSP 3
 * §6.7.2.12 matches a path without a trailing `/` exactly; the query is never
 * matched), with `;` and `,` percent-encoded as the grammar requires.
 */
export function exactFormTarget(uri: string): string | undefined {
  try {
    const url = new URL(uri);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return url.protocol;
    return `${url.origin}${url.pathname.replace(/;/g, '%3B').replace(/,/g, '%2C')}`;
  } catch {
    return undefined;
  }
}

/**
 * OAuth 2.0 Form Post Response Mode: the library's page (oidc-provider 9.13.3
 * lib/response_modes/form_post.js) auto-submits a form to the client's
 * redirect URI, which `form-action 'self'` blocks. Once the library has
 * answered with that page, form-action is widened to that one redirect URI
 * (the library checked it against the client's registration before
 * responding), keeping the script hash the library added to the policy.
 */
export function allowFormPostTarget(ctx: Context): void {
  const oidc = (ctx as { oidc?: { params?: { response_mode?: unknown; redirect_uri?: unknown } } }).oidc;
  const mode = oidc?.params?.response_mode;
  const redirectUri = oidc?.params?.redirect_uri;
  if (typeof mode !== 'string' || !mode.startsWith('form_post') || typeof redirectUri !== 'string' || !ctx.response.is('html')) return;
  if (typeof ctx.body !== 'string' || !ctx.body.includes('<form method="post" action=')) return;
  const target = exactFormTarget(redirectUri);
  const csp = ctx.response.get('Content-Security-Policy');
  if (!target || !csp) return;
  ctx.set('Content-Security-Policy', csp.replace(/form-action [^;]*/, `form-action 'self' ${target}`));
}

const fixedHeaders: ReadonlyArray<[string, string]> = [
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Frame-Options', 'DENY'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-site'],
  ['Content-Security-Policy', contentSecurityPolicy()],
  ['Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()'],
];

/** Set on every response before anything else runs (src/http/edge.ts); pages may widen the CSP. */
export function setSecurityHeaders(ctx: Context): void {
  const res = ctx.res;
  for (const [name, value] of fixedHeaders) res.setHeader(name, value);
  if (ctx.secure) res.setHeader('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
}
