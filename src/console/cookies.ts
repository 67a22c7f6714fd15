/**
 * The console's cookies, written by hand: `__Host-` (RFC 6265bis §4.1.3.2:
 * Secure, Path=/, no Domain) so no subdomain and no plain-HTTP page can set
 * or shadow them; HttpOnly; SameSite=Strict, so no cross-site request
 * carries them. koa refuses a Secure cookie on a connection it does not see
 * as TLS (behind a proxy, or loopback in development), though browsers
 * accept one from a potentially trustworthy origin (localhost).
 */
import type { Context } from 'koa';

export const sessionCookie = '__Host-gatehouse-console';
export const pendingCookie = '__Host-gatehouse-console-sign-in';

export function setCookie(ctx: Context, name: string, value: string, maxAgeSeconds: number): void {
  ctx.append('Set-Cookie', `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; Secure; HttpOnly; SameSite=Strict`);
}

export function clearCookie(ctx: Context, name: string): void {
  setCookie(ctx, name, '', 0);
}

export function readCookie(ctx: Context, name: string): string | undefined {
  const value = ctx.cookies.get(name, { signed: false });
  return value || undefined;
}
