/**
 * /admin/v1/upstreams and /admin/v1/users/{id}/links: thin handlers over the
 * upstream and link services (issue 20). The client secret is write-only: it
 * is accepted on create and update and never returned (`has_client_secret`
 * says whether one is set). Upstreams decide who becomes a user and how, so
 * they are managed under the users scopes.
 */
import { z } from 'zod';

import { LinkError, type FederationLink } from '../../federation/links.js';
import { claimMappingSchema, linkingPolicies, newUpstreamSchema, oauthEndpointsSchema, presetNames, secondFactorPolicies, upstreamChangesSchema, upstreamClientAuthMethods } from '../../federation/schemas.js';
import { UpstreamConflictError, UpstreamInputError, UpstreamNotFoundError, type Upstream } from '../../federation/upstreams.js';
import type { Services } from '../../services.js';
import { checkIfMatch, etagOf } from '../etag.js';
import { operation, type Operation } from '../operation.js';
import { page } from '../pagination.js';
import { AdminProblem, problemTypes } from '../problem.js';
import { idParams, pageOf } from '../schemas.js';

const timestamp = z.iso.datetime().describe('RFC 3339 date-time, UTC');
const claimsBody = z.strictObject({
  subject: claimMappingSchema.shape.subject.optional(),
  email: claimMappingSchema.shape.email.optional(),
  email_verified: claimMappingSchema.shape.emailVerified.optional(),
  name: claimMappingSchema.shape.name.optional(),
  groups: claimMappingSchema.shape.groups,
});
const claimsJson = z.strictObject({ subject: z.string(), email: z.string(), email_verified: z.string(), name: z.string(), groups: z.string().nullable() }).meta({ id: 'UpstreamClaimMapping' });

export const upstreamSchema = z
  .strictObject({
    id: z.string(),
    name: z.string(),
    display_name: z.string(),
    protocol: z.enum(['oidc', 'oauth2']),
    issuer: z.string().describe('The issuer identifier links are keyed by (read-only after creation).'),
    endpoints: oauthEndpointsSchema.nullable().describe('OAuth 2.0 upstreams only.'),
    client_id: z.string(),
    has_client_secret: z.boolean().describe('The secret itself is write-only.'),
    client_auth: z.enum(upstreamClientAuthMethods),
    jwks_uri: z.string().nullable().describe('private_key_jwt: where the upstream fetches the public key of this client.'),
    scopes: z.array(z.string()),
    claims: claimsJson,
    linking: z.enum(linkingPolicies),
    second_factor: z.enum(secondFactorPolicies),
    domains: z.array(z.string()),
    end_upstream_session: z.boolean(),
    enabled: z.boolean(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Upstream' });

const shared = {
  display_name: newUpstreamSchema.shape.displayName,
  client_id: newUpstreamSchema.shape.clientId.optional(),
  client_secret: newUpstreamSchema.shape.clientSecret.describe('Write-only; sealed under the master secret.'),
  client_auth: newUpstreamSchema.shape.clientAuth,
  scopes: newUpstreamSchema.shape.scopes,
  claims: claimsBody.optional(),
  linking: z.enum(linkingPolicies).optional(),
  second_factor: z.enum(secondFactorPolicies).optional(),
  domains: upstreamChangesSchema.shape.domains,
  end_upstream_session: z.boolean().optional(),
  enabled: z.boolean().optional(),
};

const newUpstreamBody = z
  .strictObject({
    name: newUpstreamSchema.shape.name,
    preset: z.enum([...presetNames, 'entra']).optional().describe('google, microsoft (alias entra) or github; without one, `issuer` (OpenID Connect discovery) or `endpoints` (OAuth 2.0).'),
    tenant: newUpstreamSchema.shape.tenant,
    issuer: newUpstreamSchema.shape.issuer,
    endpoints: newUpstreamSchema.shape.endpoints,
    ...shared,
    client_id: newUpstreamSchema.shape.clientId,
  })
  .meta({ id: 'NewUpstream' });

const upstreamPatchBody = z.strictObject(shared).meta({ id: 'UpstreamPatch' });
const upstreamParams = z.strictObject({ upstream: z.string().min(1).max(200).describe('The upstream\'s id or name.') });
const linkParams = z.strictObject({ id: z.string().min(1).max(200), issuer: z.string().min(1).max(2000), subject: z.string().min(1).max(255) });
const listQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: z.string().max(200).optional() });

const linkSchema = z
  .strictObject({
    issuer: z.string(),
    subject: z.string(),
    upstream: z.string().nullable().describe('The upstream\'s name; null when it was removed.'),
    upstream_display_name: z.string().nullable(),
    groups: z.array(z.string()),
    created_at: timestamp,
    last_used_at: timestamp.nullable(),
  })
  .meta({ id: 'FederationLink' });

export function upstreamJson(u: Upstream, issuer: string) {
  return {
    id: u.id,
    name: u.name,
    display_name: u.displayName,
    protocol: u.protocol,
    issuer: u.issuer,
    endpoints: u.endpoints ?? null,
    client_id: u.clientId,
    has_client_secret: u.hasClientSecret,
    client_auth: u.clientAuth,
    jwks_uri: u.clientAuth === 'private_key_jwt' ? federationJwksUri(issuer) : null,
    scopes: u.scopes,
    claims: { subject: u.claims.subject, email: u.claims.email, email_verified: u.claims.emailVerified, name: u.claims.name, groups: u.claims.groups ?? null },
    linking: u.linking,
    second_factor: u.secondFactor,
    domains: u.domains,
    end_upstream_session: u.endUpstreamSession,
    enabled: u.enabled,
    created_at: u.createdAt.toISOString(),
    updated_at: u.updatedAt.toISOString(),
  };
}

export const federationJwksUri = (issuer: string) => `${issuer.replace(/\/$/, '')}/federation/jwks`;

const linkJson = (l: FederationLink) => ({
  issuer: l.issuer,
  subject: l.subject,
  upstream: l.upstream,
  upstream_display_name: l.upstreamDisplayName,
  groups: l.groups,
  created_at: l.createdAt.toISOString(),
  last_used_at: l.lastUsedAt ? l.lastUsedAt.toISOString() : null,
});

const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

function claimsInput(claims: z.output<typeof claimsBody> | undefined) {
  return claims ? defined({ subject: claims.subject, email: claims.email, emailVerified: claims.email_verified, name: claims.name, groups: claims.groups }) : undefined;
}

function changesOf(body: z.output<typeof upstreamPatchBody>) {
  return defined({
    displayName: body.display_name,
    clientId: body.client_id,
    clientSecret: body.client_secret,
    clientAuth: body.client_auth,
    scopes: body.scopes,
    claims: claimsInput(body.claims),
    linking: body.linking,
    secondFactor: body.second_factor,
    domains: body.domains,
    endUpstreamSession: body.end_upstream_session,
    enabled: body.enabled,
  });
}

/** The services' refusals as problem details: their messages are written for operators. */
async function guarded<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof UpstreamNotFoundError) throw new AdminProblem(404, 'There is no such upstream.');
    if (error instanceof UpstreamConflictError) throw new AdminProblem(409, error.message, { type: problemTypes.conflict });
    if (error instanceof UpstreamInputError) throw new AdminProblem(400, error.message, { type: problemTypes.validation });
    if (error instanceof LinkError) throw error.message === 'no such link' ? new AdminProblem(404, 'The user has no such link.') : new AdminProblem(409, error.message, { type: problemTypes.conflict });
    throw error;
  }
}

export function upstreamOperations(services: Pick<Services, 'upstreams' | 'federationLinks' | 'accounts'>, issuer: string): Operation[] {
  const { upstreams, federationLinks, accounts } = services;
  const json = (u: Upstream) => upstreamJson(u, issuer);
  const find = async (idOrName: string) => {
    const u = await upstreams.find(idOrName);
    if (!u) throw new AdminProblem(404, 'There is no such upstream.');
    return u;
  };
  const user = async (id: string) => {
    if (!(await accounts.findById(id))) throw new AdminProblem(404, 'There is no user with this id.');
  };
  const one = { 200: { description: 'The upstream.', schema: upstreamSchema } };
  return [
    operation({
      id: 'listUpstreams', method: 'GET', path: '/upstreams', tag: 'federation', scope: 'admin:users.read', summary: 'List upstream identity providers', query: listQuery,
      responses: { 200: { description: 'A page of upstreams.', schema: pageOf(upstreamSchema, 'UpstreamPage') } },
      async handle({ query }) {
        return { status: 200, body: page(await upstreams.list(), (u) => u.name, query.cursor, query.limit, json) };
      },
    }),
    operation({
      id: 'createUpstream', method: 'POST', path: '/upstreams', tag: 'federation', scope: 'admin:users.write', summary: 'Add an upstream identity provider (a preset, an OpenID Connect issuer or OAuth 2.0 endpoints)', body: newUpstreamBody, audited: true,
      responses: { 201: { description: 'The upstream.', schema: upstreamSchema } },
      async handle({ body, caller }) {
        const u = await guarded(() =>
          upstreams.create(caller.actor, {
            ...(defined({ ...changesOf(body), name: body.name, tenant: body.tenant, issuer: body.issuer, endpoints: body.endpoints }) as { name: string; clientId: string }),
            ...(body.preset ? { preset: body.preset === 'entra' ? 'microsoft' : body.preset } : {}),
          }),
        );
        const representation = json(u);
        return { status: 201, body: representation, etag: etagOf(representation), headers: { Location: `/admin/v1/upstreams/${u.id}` } };
      },
    }),
    operation({
      id: 'getUpstream', method: 'GET', path: '/upstreams/{upstream}', tag: 'federation', scope: 'admin:users.read', summary: 'Read an upstream (never its secret)', params: upstreamParams,
      responses: one,
      async handle({ params }) {
        const representation = json(await find(params.upstream));
        return { status: 200, body: representation, etag: etagOf(representation) };
      },
    }),
    operation({
      id: 'updateUpstream', method: 'PATCH', path: '/upstreams/{upstream}', tag: 'federation', scope: 'admin:users.write',
      summary: 'Change an upstream (If-Match required; name, issuer and endpoints are read-only: links are keyed by the issuer)',
      params: upstreamParams, body: upstreamPatchBody, etag: true, audited: true, responses: one,
      async handle({ params, body, caller, ifMatch }) {
        const current = await find(params.upstream);
        checkIfMatch(ifMatch, json(current));
        const u = await guarded(() => upstreams.update(caller.actor, current.id, changesOf(body)));
        const representation = json(u);
        return { status: 200, body: representation, etag: etagOf(representation) };
      },
    }),
    operation({
      id: 'deleteUpstream', method: 'DELETE', path: '/upstreams/{upstream}', tag: 'federation', scope: 'admin:users.write', summary: 'Remove an upstream (its links stay, keyed by issuer, until re-created or removed)', params: upstreamParams, audited: true,
      responses: { 204: { description: 'Removed.' } },
      async handle({ params, caller }) {
        await guarded(() => upstreams.remove(caller.actor, params.upstream));
        return { status: 204 };
      },
    }),
    operation({
      id: 'listUserLinks', method: 'GET', path: '/users/{id}/links', tag: 'federation', scope: 'admin:users.read', summary: 'Upstream identities linked to a user', params: idParams,
      responses: { 200: { description: 'Every link of the user.', schema: z.strictObject({ items: z.array(linkSchema) }).meta({ id: 'FederationLinkList' }) } },
      async handle({ params }) {
        await user(params.id);
        return { status: 200, body: { items: (await federationLinks.forAccount(params.id)).map(linkJson) } };
      },
    }),
    operation({
      id: 'deleteUserLink', method: 'DELETE', path: '/users/{id}/links/{issuer}/{subject}', tag: 'federation', scope: 'admin:users.write', summary: 'Unlink an upstream identity from a user (issuer and subject percent-encoded)', params: linkParams, audited: true,
      responses: { 204: { description: 'Unlinked.' } },
      async handle({ params, caller }) {
        await user(params.id);
        await guarded(() => federationLinks.remove(caller.actor, params.id, { issuer: params.issuer, subject: params.subject }));
        return { status: 204 };
      },
    }),
  ];
}
