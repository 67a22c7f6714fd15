/**
 * The registration endpoints' view of a client's `scope`
 * (src/registration/registered-scope.ts): before the library validates a
 * registration (RFC 7591) or an update (RFC 7592), API scopes move out of the
 * `scope` it checks against its own list; in every answer the client reads
 * its scope back whole. Open registration has no library policy to do the
 * first step in (policies need adapter-backed initial access tokens,
 * lib/helpers/configuration.js:696-701 at v9.13.3), so it is done on the
 * request body for every registration, with or without a token.
 */
import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';

import { readBodyAhead, replaceBodyAhead } from '../http/request-limits.js';
import { joinRegisteredScope, splitRegisteredScope } from '../registration/registered-scope.js';

function parsedObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    // Not JSON: the library answers it.
    return undefined;
  }
}

/** For the route-table names `registration` (POST /reg) and `client` (/reg/<client id>). */
export async function registeredScope(ctx: Context, next: Next): Promise<void> {
  if ((ctx.method === 'POST' || ctx.method === 'PUT') && ctx.is('application/json')) {
    const body = await readBodyAhead(ctx);
    const metadata = body && parsedObject(body);
    if (metadata) {
      splitRegisteredScope(metadata);
      await replaceBodyAhead(ctx, Buffer.from(JSON.stringify(metadata)));
    }
  }
  await next();
  if (ctx.status >= 300 || ctx.body === null || typeof ctx.body !== 'object' || !('client_id' in ctx.body)) return;
  const answer = ctx.body as Record<string, unknown>;
  if (ctx.status === 201) await withStoredDefaults(ctx as unknown as KoaContextWithOIDC, answer);
  joinRegisteredScope(answer);
}

/**
 * Open registration fills in the policy's scope and resources as it stores the
 * client (src/registration/registrations.ts), after the library built its
 * answer; RFC 7591 §3.2.1 wants the metadata as registered, what the server
 * provisioned included.
 */
async function withStoredDefaults(ctx: KoaContextWithOIDC, answer: Record<string, unknown>): Promise<void> {
  const filled = ['scope', 'resources'];
  if (filled.every((key) => answer[key] !== undefined)) return;
  const stored = (await ctx.oidc.provider.Client.find(String(answer.client_id)))?.metadata() as Record<string, unknown> | undefined;
  if (!stored) return;
  for (const key of [...filled, 'allowed_scopes']) {
    if (answer[key] === undefined && stored[key] !== undefined) answer[key] = stored[key];
  }
}
