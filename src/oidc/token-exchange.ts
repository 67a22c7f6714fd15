/**
 * OAuth 2.0 Token Exchange (RFC 8693), registered through the library's
 * custom grant API (provider.registerGrantType, lib/provider.js:171-193 at
 * oidc-provider 9.13.3). A client trades a subject token (a Gatehouse access
 * token, or an API key) for an access token for another audience, only ever
 * narrower than what it presented:
 *
 * - the client needs a token-exchange policy (src/token-exchange/), else `unauthorized_client`;
 * - the audience (`audience` or `resource`, one of them, once) must be in that policy
 *   and be a registered resource server, else `invalid_target` (§2.2.2);
 * - every requested scope must be held by the subject token and offered by the target
 *   (for a target with RBAC on: a scope the subject's roles hold there, docs/rbac.md),
 *   else `invalid_scope`; with none requested, the overlap is issued;
 * - the lifetime is the shortest of the subject's remaining life, the policy's
 *   maximum, the resource server's token lifetime (and, for an API key, GATEHOUSE_API_KEY_TOKEN_TTL);
 * - without an actor_token the result *is* the subject (impersonation, §1.1),
 *   allowed only when the policy says so, except for an API key, which is its owner's
 *   own credential; with one, the actor (which must be the calling client's own
 *   token) goes into `act`, earlier actors nested inside it (§4.1);
 * - the subject token must be one the calling client may introspect (its own, or for
 *   an audience it serves), so a client cannot exchange a token it merely overheard.
 *
 * Every exchange is audited (`token.exchanged`) with both subjects.
 */
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type Provider from 'oidc-provider';

import type { Audit } from '../audit/events.js';
import { adminAudience } from '../resources/admin-audience.js';
import type { ExchangePolicyService } from '../token-exchange/policies.js';
import type { IntrospectionPolicy } from './introspection-policy.js';
import { setExchangeSubject } from './rbac-scopes.js';
import { createSubjectReader, tokenTypes, type ActClaim, type PresentedToken, type SubjectDeps } from './token-exchange-subjects.js';

export const tokenExchangeGrant = 'urn:ietf:params:oauth:grant-type:token-exchange';
const parameters = ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'audience', 'resource', 'scope'];

type ResourceServerInfo = ConstructorParameters<Provider['ResourceServer']>[1];

export interface TokenExchangeDeps extends SubjectDeps {
  audit: Audit;
  policies: ExchangePolicyService;
  introspection: IntrospectionPolicy;
  apiKeyTokenTtl: number;
  /** The same resource-server lookup as every other grant (src/oidc/resources.ts). */
  resourceServerInfo(ctx: KoaContextWithOIDC, audience: string, client: Record<string, unknown>): ResourceServerInfo | Promise<ResourceServerInfo>;
}

/** The `act` claim each exchanged token carries, read by extraTokenClaims (the library overwrites `extra` with its answer). */
const exchangedClaims = new WeakMap<object, { act: ActClaim }>();
export const exchangeTokenClaims = (token: unknown) => (typeof token === 'object' && token !== null ? exchangedClaims.get(token) : undefined);

const single = (value: unknown, name: string): string | undefined => {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new errors.InvalidTarget(`only one ${name} value is supported`);
  return value;
};

function targetOf(params: Record<string, unknown>): string {
  const audience = single(params.audience, 'audience');
  const resource = single(params.resource, 'resource');
  if (audience && resource && audience !== resource) throw new errors.InvalidTarget('name the target once, as audience or resource');
  const target = audience ?? resource;
  if (!target) throw new errors.InvalidTarget('audience or resource is required');
  return target;
}

function grantedScopes(requested: unknown, held: Set<string>, offered: Set<string>): string[] {
  if (typeof requested !== 'string' || requested === '') return [...held].filter((s) => offered.has(s));
  const asked = [...new Set(requested.split(' ').filter(Boolean))];
  const refused = asked.filter((s) => !held.has(s) || !offered.has(s));
  if (refused.length) throw new errors.InvalidScope('requested scope exceeds the subject token\'s or the target\'s', refused.join(' '));
  return asked;
}

export function installTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  const reader = createSubjectReader(deps);

  // The library lets a client use only the grant types in its metadata (lib/actions/token.js
  // allowedGrantTypeCheck, lib/models/client.js:483-485); who may exchange is the exchange
  // policy instead, checked first thing in the handler, so no client's metadata changes.
  const prototype = provider.Client.prototype as { grantTypeAllowed(type: string): boolean };
  const grantTypeAllowed = prototype.grantTypeAllowed;
  prototype.grantTypeAllowed = function grantTypeOrExchange(type: string) {
    return type === tokenExchangeGrant || grantTypeAllowed.call(this, type);
  };

  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Record<string, unknown>;
    const client = ctx.oidc.client!;
    const policy = await deps.policies.find(client.clientId);
    if (!policy) throw new errors.UnauthorizedClient('the client is not allowed to use token exchange');
    for (const name of ['subject_token', 'subject_token_type']) if (typeof params[name] !== 'string' || params[name] === '') throw new errors.InvalidRequest(`missing required parameter '${name}'`);
    if (params.requested_token_type !== undefined && params.requested_token_type !== tokenTypes.accessToken) throw new errors.InvalidRequest('only access tokens can be requested');
    if ((params.actor_token === undefined) !== (params.actor_token_type === undefined)) throw new errors.InvalidRequest('actor_token and actor_token_type go together');

    const target = targetOf(params);
    if (target === adminAudience || !policy.audiences.includes(target)) throw new errors.InvalidTarget('the client may not exchange tokens for this audience');

    const subjectType = params.subject_token_type as string;
    const subject = await reader.subject(ctx, params.subject_token as string, subjectType);
    if (subject.facts && !(await deps.introspection.mayIntrospect(client, subject.facts))) throw new errors.InvalidRequest('subject_token is invalid, expired or revoked');
    const actor = typeof params.actor_token === 'string' ? await reader.actor(ctx, params.actor_token, params.actor_token_type as string) : undefined;
    if (actor && actor.clientId !== client.clientId) throw new errors.InvalidRequest('actor_token must be one issued to the calling client');
    const impersonating = !actor && subjectType !== tokenTypes.apiKey && !(subject.kind === 'client' && subject.sub === client.clientId);
    if (impersonating && !policy.mayImpersonate) throw new errors.UnauthorizedClient('the client may not impersonate; present an actor_token to act on the subject\'s behalf');

    // RBAC on at the target: only what the subject (not the calling client) holds there (src/oidc/rbac-scopes.ts).
    setExchangeSubject(ctx, { kind: subject.kind, id: subject.sub });
    const info = await deps.resourceServerInfo(ctx, target, client as unknown as Record<string, unknown>);
    const resourceServer = new provider.ResourceServer(target, info);
    const scopes = grantedScopes(params.scope, subject.scopes, resourceServer.scopes);
    const now = Math.floor(Date.now() / 1000);
    const lifetimes = [subject.exp - now, policy.maxLifetimeSeconds, info.accessTokenTTL ?? policy.maxLifetimeSeconds, ...(subjectType === tokenTypes.apiKey ? [deps.apiKeyTokenTtl] : [])];
    const expiresIn = Math.min(...lifetimes);
    if (expiresIn < 1) throw new errors.InvalidRequest('subject_token is invalid, expired or revoked');

    const token = await newToken(ctx, subject, { scope: scopes.join(' ') || undefined, expiresIn, resourceServer });
    const act = actor ? actChain(actor, subject) : subject.act;
    if (act) exchangedClaims.set(token, { act });
    ctx.oidc.entity(token.kind === 'AccessToken' ? 'AccessToken' : 'ClientCredentials', token);
    const value = await token.save();

    deps.audit.record({
      type: 'token.exchanged',
      outcome: 'success',
      actor: actor?.sub ?? client.clientId,
      subject: subject.sub,
      clientId: client.clientId,
      detail: { subjectToken: subject.label, actorToken: actor?.label, audience: target, scope: token.scope, expiresIn, impersonation: impersonating, act },
    });
    ctx.body = {
      access_token: value,
      issued_token_type: tokenTypes.accessToken,
      token_type: token.tokenType,
      expires_in: expiresIn,
      ...(token.scope ? { scope: token.scope } : {}),
    };
  }

  async function newToken(ctx: KoaContextWithOIDC, subject: PresentedToken, fields: { scope: string | undefined; expiresIn: number; resourceServer: InstanceType<Provider['ResourceServer']> }) {
    // No grantId: the exchanged token belongs to no grant of this client (introspection would refuse one whose grant is another client's).
    type AccessTokenFields = ConstructorParameters<Provider['AccessToken']>[0];
    if (subject.kind === 'user') return new provider.AccessToken({ accountId: subject.sub, client: ctx.oidc.client!, gty: 'token_exchange', ...fields } as unknown as AccessTokenFields);
    // A client subject's token is that client's own (sub = client_id, as the library writes it, lib/models/formats/jwt.js:118).
    const owner = subject.sub === ctx.oidc.client!.clientId ? ctx.oidc.client! : await provider.Client.find(subject.sub);
    if (!owner) throw new errors.InvalidRequest('subject_token is invalid, expired or revoked');
    return new provider.ClientCredentials({ client: owner, ...fields });
  }

  provider.registerGrantType(tokenExchangeGrant, handler as never, parameters, ['resource', 'audience']);
}

/** The new actor first, the subject's earlier actors nested inside (RFC 8693 §4.1). */
function actChain(actor: PresentedToken, subject: PresentedToken): ActClaim {
  const chain = subject.act ?? actor.act;
  return { sub: actor.sub, ...(actor.clientId && actor.clientId !== actor.sub ? { client_id: actor.clientId } : {}), ...(chain ? { act: chain } : {}) };
}
