/**
 * A replayed refresh token means it was stolen, or the client's copy was:
 * the library revokes that grant (lib/actions/grants/refresh_token.js:107-113);
 * Gatehouse ends every session and token of the account as well (issue 18
 * item 5), since whoever replayed it may hold more than that one grant.
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';

import { system } from '../audit/events.js';
import type { SessionService } from '../sessions/sessions.js';
import { replayedToken } from './audit-events.js';

export function signOutOnRefreshReplay(provider: Provider, sessions: SessionService, log: Logger): void {
  provider.on('grant.error', (ctx: Context, error: { error?: string; error_detail?: string; error_description?: string }) => {
    if (replayedToken(error) !== 'refresh_token') return;
    // The library set the account entity before it checked `consumed` (refresh_token.js:105).
    const accountId = (ctx as { oidc?: { account?: { accountId: string } } }).oidc?.account?.accountId;
    if (!accountId) return;
    // The error response goes out now; the sign-out follows it (an event listener cannot be awaited).
    sessions.signOutEverywhere(system, accountId, 'refresh_token_replay').catch((failure: unknown) => {
      log.error({ requestId: ctx.state.requestId, err: failure, accountId }, 'ending the sessions of an account after a refresh-token replay failed');
    });
  });
}
