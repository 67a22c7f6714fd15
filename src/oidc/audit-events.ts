/**
 * oidc-provider's events → audit events. The library tells us when a token
 * was issued, a request refused, a refresh token or code replayed, a grant
 * revoked; this is the one place those become audit records. (Sign-in,
 * second-factor and registration events are recorded by their own routes
 * and services.)
 *
 * Event catalogue written here:
 *   token.issued                 {grantType, scope}        per token response
 *   token.refused                {endpoint, error}          a refused grant, introspection or revocation
 *   client.authentication_failed {endpoint}                 invalid_client anywhere
 *   token.reuse_detected         {token}                    refresh token / code replay: the grant was revoked
 *   grant.revoked                {grantId}
 *   token.revoked                {tokenType}                RFC 7009 revocation of a known token
 *   authorization.granted        {scope}                    a code issued to a client for an account
 *   authorization.denied         {error}                    the user cancelled, or consent was refused
 *   session.ended                                           RP-initiated logout
 */
import type { Context } from 'koa';
import type Provider from 'oidc-provider';

import type { Audit } from '../audit/events.js';
import { isStructuredTokenRefusal } from './jwt-access-tokens.js';

interface OidcBits {
  route?: string;
  client?: { clientId: string };
  account?: { accountId: string };
  session?: { accountId?: string };
  params?: Record<string, unknown>;
  entities?: Record<string, { kind?: string } | undefined>;
}

interface ProviderError {
  error?: string;
  error_detail?: string;
  error_description?: string;
}

const oidcOf = (ctx: Context) => ((ctx as { oidc?: OidcBits }).oidc ?? {}) as OidcBits;
const requestOf = (ctx: Context) => ({ ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });

/** The library's replay messages (lib/actions/grants/*, lib/helpers/grant_source.js). */
export function replayedToken(error: ProviderError): string | undefined {
  const detail = `${error.error_detail ?? ''} ${error.error_description ?? ''}`;
  if (/refresh token already used/.test(detail)) return 'refresh_token';
  if (/authorization code already consumed|grant.*already consumed|code already (used|consumed)/.test(detail)) return 'authorization_code';
  return undefined;
}

export function auditProviderEvents(provider: Provider, audit: Audit): void {
  provider.on('grant.success', (ctx: Context) => {
    const oidc = oidcOf(ctx);
    const clientId = oidc.client?.clientId;
    const accountId = oidc.account?.accountId;
    audit.record({
      type: 'token.issued',
      outcome: 'success',
      actor: accountId ?? clientId,
      subject: accountId ?? clientId,
      clientId,
      ...requestOf(ctx),
      detail: { grantType: String(oidc.params?.grant_type ?? 'unknown'), scope: typeof oidc.params?.scope === 'string' ? oidc.params.scope : undefined },
    });
  });

  const refused = (endpoint: string) => (ctx: Context, error: ProviderError) => {
    const oidc = oidcOf(ctx);
    const clientId = oidc.client?.clientId;
    // A JWT access token the library will not look up: src/oidc/jwt-access-tokens.ts answers instead.
    if (endpoint !== 'token' && isStructuredTokenRefusal(error)) return;
    const base = { outcome: 'failure' as const, clientId, actor: clientId, ...requestOf(ctx) };
    if (error.error === 'invalid_client') {
      audit.record({ type: 'client.authentication_failed', ...base, detail: { endpoint } });
      return;
    }
    const replayed = endpoint === 'token' ? replayedToken(error) : undefined;
    if (replayed) {
      audit.record({ type: 'token.reuse_detected', ...base, detail: { token: replayed, grantRevoked: true } });
      return;
    }
    audit.record({ type: 'token.refused', ...base, detail: { endpoint, error: error.error ?? 'unknown', grantType: endpoint === 'token' ? oidc.params?.grant_type : undefined } });
  };
  provider.on('grant.error', refused('token'));
  provider.on('introspection.error', refused('introspection'));
  provider.on('revocation.error', refused('revocation'));
  provider.on('pushed_authorization_request.error', refused('pushed_authorization_request'));

  provider.on('grant.revoked', (ctx: Context, grantId: string) => {
    const oidc = oidcOf(ctx);
    audit.record({ type: 'grant.revoked', outcome: 'success', clientId: oidc.client?.clientId, actor: oidc.client?.clientId, ...requestOf(ctx), detail: { grantId, via: oidc.route } });
  });

  provider.on('authorization.success', (ctx: Context) => {
    const oidc = oidcOf(ctx);
    const accountId = oidc.session?.accountId;
    audit.record({
      type: 'authorization.granted',
      outcome: 'success',
      actor: accountId,
      subject: accountId,
      clientId: oidc.client?.clientId,
      ...requestOf(ctx),
      detail: { scope: typeof oidc.params?.scope === 'string' ? oidc.params.scope : undefined },
    });
  });

  provider.on('authorization.error', (ctx: Context, error: ProviderError) => {
    if (error.error !== 'access_denied') return;
    const oidc = oidcOf(ctx);
    audit.record({ type: 'authorization.denied', outcome: 'failure', actor: oidc.session?.accountId, subject: oidc.session?.accountId, clientId: oidc.client?.clientId, ...requestOf(ctx), detail: { error: error.error } });
  });

  provider.on('end_session.success', (ctx: Context) => {
    const oidc = oidcOf(ctx);
    audit.record({ type: 'session.ended', outcome: 'success', actor: oidc.session?.accountId, subject: oidc.session?.accountId, clientId: oidc.client?.clientId, ...requestOf(ctx) });
  });
}

/** Revocation answers 200 whether or not it knew the token (RFC 7009 §2.2); a known one is worth a record. */
export function auditRevocations(audit: Audit) {
  return async function revocationAuditMiddleware(ctx: Context, next: () => Promise<unknown>) {
    await next();
    const oidc = oidcOf(ctx);
    if (oidc.route !== 'revocation' || ctx.status !== 200) return;
    const token = Object.values(oidc.entities ?? {}).find((e) => e && ['AccessToken', 'RefreshToken', 'ClientCredentials'].includes(e.kind ?? ''));
    if (!token) return;
    const clientId = oidc.client?.clientId;
    audit.record({ type: 'token.revoked', outcome: 'success', actor: clientId, clientId, ...requestOf(ctx), detail: { tokenType: token.kind } });
  };
}
