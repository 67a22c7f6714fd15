/** /admin/v1/resource-servers: thin handlers over the resource service. */
import { protectedResourceMetadata, protectedResourceMetadataUrl } from '../../resources/protected-resource-metadata.js';
import type { AccessControlChange, ResourceServer } from '../../resources/resources.js';
import type { Services } from '../../services.js';
import { updateIfMatch, versionTag } from '../etag.js';
import { operation, type Operation } from '../operation.js';
import { page } from '../pagination.js';
import { AdminProblem } from '../problem.js';
import { audienceParams, newResourceBody, pageOf, protectedResourceMetadataSchema, resourceListQuery, resourcePatchBody, resourceSchema } from '../schemas.js';

const resourceJson = (r: ResourceServer) => ({
  audience: r.audience,
  name: r.name,
  scopes: r.scopes,
  access_token_ttl: r.accessTokenTtl,
  token_format: r.tokenFormat,
  signing_alg: r.signingAlg,
  rbac: r.rbac,
  unheld_scopes: r.unheldScopes,
  token_claims: r.tokenClaims,
  created_at: r.createdAt.toISOString(),
});

/** The access-control fields of a create or PATCH body, in the service's names; undefined when none is given. */
function accessControl(body: { rbac?: boolean | undefined; unheld_scopes?: 'drop' | 'refuse' | undefined; token_claims?: Array<'roles' | 'groups'> | undefined }) {
  const change = { rbac: body.rbac, unheldScopes: body.unheld_scopes, tokenClaims: body.token_claims };
  const given = Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined));
  return Object.keys(given).length ? (given as AccessControlChange) : undefined;
}

/** `authorisation`: what the RFC 9728 metadata says of Gatehouse as the resource server's authorization server. */
export function resourceOperations(services: Pick<Services, 'resources'>, authorisation: { issuer: string; dpopSigningAlgs: readonly string[] }): Operation[] {
  const { resources } = services;
  const byAudience = async (audience: string) => {
    const r = await resources.find(audience);
    if (!r) throw new AdminProblem(404, 'There is no resource server for this audience.');
    return r;
  };
  const one = { 200: { description: 'The resource server.', schema: resourceSchema } };
  return [
    operation({
      id: 'listResourceServers', method: 'GET', path: '/resource-servers', tag: 'resources', scope: 'admin:resources.read', summary: 'List resource servers', query: resourceListQuery,
      responses: { 200: { description: 'A page of resource servers.', schema: pageOf(resourceSchema, 'ResourceServerPage') } },
      async handle({ query }) {
        return { status: 200, body: page(await resources.list(), (r) => r.audience, query.cursor, query.limit, resourceJson) };
      },
    }),
    operation({
      id: 'createResourceServer', method: 'POST', path: '/resource-servers', tag: 'resources', scope: 'admin:resources.write', summary: 'Register a resource server and its scopes', body: newResourceBody, audited: true, idempotent: true,
      responses: { 201: { description: 'The resource server.', schema: resourceSchema } },
      async handle({ body, caller }) {
        const r = await resources.add(caller.actor, {
          audience: body.audience,
          name: body.name,
          scopes: body.scopes ?? [],
          accessTokenTtl: body.access_token_ttl,
          ...(body.token_format ? { tokenFormat: body.token_format } : {}),
          ...(body.signing_alg ? { signingAlg: body.signing_alg } : {}),
          ...accessControl(body),
        });
        return { status: 201, body: resourceJson(r), etag: versionTag(r), headers: { Location: `/admin/v1/resource-servers/${encodeURIComponent(r.audience)}` } };
      },
    }),
    operation({
      id: 'getResourceServer', method: 'GET', path: '/resource-servers/{audience}', tag: 'resources', scope: 'admin:resources.read', summary: 'Read a resource server (audience percent-encoded)', params: audienceParams,
      responses: one,
      async handle({ params }) {
        const r = await byAudience(params.audience);
        return { status: 200, body: resourceJson(r), etag: versionTag(r) };
      },
    }),
    operation({
      id: 'updateResourceServer', method: 'PATCH', path: '/resource-servers/{audience}', tag: 'resources', scope: 'admin:resources.write',
      summary: 'Change name, scopes, token lifetime, format, algorithm or access control (If-Match required; the audience is read-only)',
      params: audienceParams, body: resourcePatchBody, etag: true, audited: true, responses: one,
      async handle({ params, body, caller, ifMatch }) {
        const { name, scopes, access_token_ttl: accessTokenTtl, token_format: tokenFormat, signing_alg: signingAlg } = body;
        const change = Object.fromEntries(Object.entries({ name, scopes, accessTokenTtl, tokenFormat, signingAlg }).filter(([, v]) => v !== undefined));
        let r = await updateIfMatch(ifMatch, await byAudience(params.audience), (expected) => resources.update(caller.actor, params.audience, change, expected));
        // Access control is its own audited change (resource.access_control_changed), made once If-Match has held.
        const control = accessControl(body);
        if (control) r = await resources.setAccessControl(caller.actor, params.audience, control);
        return { status: 200, body: resourceJson(r), etag: versionTag(r) };
      },
    }),
    operation({
      id: 'getProtectedResourceMetadata', method: 'GET', path: '/resource-servers/{audience}/metadata', tag: 'resources', scope: 'admin:resources.read',
      summary: 'The RFC 9728 protected-resource metadata the resource server should publish', params: audienceParams,
      responses: { 200: { description: 'The document; Link names where RFC 9728 §3.1 puts it, for an http(s) audience.', schema: protectedResourceMetadataSchema } },
      async handle({ params }) {
        const r = await resources.find(params.audience);
        if (!r) throw new AdminProblem(404, 'There is no resource server for this audience.');
        const location = protectedResourceMetadataUrl(r.audience);
        return { status: 200, body: protectedResourceMetadata(r, authorisation), ...(location ? { headers: { Link: `<${location}>; rel="describedby"` } } : {}) };
      },
    }),
    operation({
      id: 'deleteResourceServer', method: 'DELETE', path: '/resource-servers/{audience}', tag: 'resources', scope: 'admin:resources.write', summary: 'Remove a resource server', params: audienceParams, audited: true,
      responses: { 204: { description: 'Removed.' } },
      async handle({ params, caller }) {
        await resources.remove(caller.actor, params.audience);
        return { status: 204 };
      },
    }),
  ];
}
