/**
 * Which bucket a registration request spends. Anonymous registrations stay on
 * the tight per-IP budget (GATEHOUSE_RATE_LIMIT_REGISTRATION); a request that
 * carries a valid initial access token (RFC 7591 §3: `Authorization: Bearer`)
 * spends that token's own budget instead, so a CI runner registering (and
 * retrying) with an operator's token is not stopped by the address budget it
 * shares. A token that is unknown, expired, used up or revoked counts per IP
 * like no token at all, so made-up tokens buy nothing.
 */
import type { Context } from 'koa';

/** Looks a presented token up; its id when it may register a client now. */
export type UsableInitialAccessToken = (value: string) => Promise<string | undefined>;

/** RFC 6750 §2.1 `b64token`. */
const bearer = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export async function initialAccessTokenBucket(ctx: Context, usable: UsableInitialAccessToken): Promise<string | undefined> {
  if (ctx.method !== 'POST' || ctx.path !== '/reg') return undefined;
  const match = bearer.exec(ctx.get('Authorization'));
  if (!match || match[1]!.length > 512) return undefined;
  const id = await usable(match[1]!);
  return id ? `iat:${id}` : undefined;
}
