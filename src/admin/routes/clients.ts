/** /admin/v1/clients: thin handlers over the client and client-secret services. */
import type { ClientSummary } from '../../clients/clients.js';
import { updateIfMatch, versionTag } from '../etag.js';
import type { SecretMetadata } from '../../clients/secret-rotation.js';
import type { Services } from '../../services.js';
import { operation, type Operation } from '../operation.js';
import { createdKey, page } from '../pagination.js';
import { AdminProblem } from '../problem.js';
import {
  clientListQuery,
  clientParams,
  clientPatchBody,
  clientSchema,
  createdClientSchema,
  newClientBody,
  pageOf,
  rotatedSecretSchema,
  rotateSecretBody,
  secretListSchema,
  secretParams,
} from '../schemas.js';

export function clientJson(c: ClientSummary) {
  return {
    client_id: c.clientId,
    name: c.name,
    type: c.type,
    grant_types: c.grantTypes,
    redirect_uris: c.redirectUris,
    token_endpoint_auth_method: c.authMethod,
    first_party: c.firstParty,
    disabled: c.disabled,
    source: c.source,
    registration_policy: c.registrationPolicy,
    backchannel_logout_uri: c.backchannelLogoutUri,
    backchannel_logout_session_required: c.backchannelLogoutSessionRequired,
    dpop_bound_access_tokens: c.dpopBoundTokens,
    security_profile: c.securityProfile === 'fapi2' ? ('fapi2' as const) : null,
    secret_expires_at: c.secretExpiresAt ? c.secretExpiresAt.toISOString() : null,
    created_at: c.createdAt.toISOString(),
    updated_at: c.updatedAt.toISOString(),
  };
}

const secretJson = (s: SecretMetadata) => ({
  id: s.id,
  state: s.state,
  created_at: s.createdAt.toISOString(),
  expires_at: s.expiresAt ? s.expiresAt.toISOString() : null,
  last_used_at: s.lastUsedAt ? s.lastUsedAt.toISOString() : null,
});

export function clientOperations(services: Pick<Services, 'clients' | 'clientSecrets'>): Operation[] {
  const { clients, clientSecrets } = services;
  const byId = async (clientId: string) => {
    const client = await clients.find(clientId);
    if (!client) throw new AdminProblem(404, 'There is no client with this id.');
    return client;
  };
  const one = { 200: { description: 'The client.', schema: clientSchema } };
  return [
    operation({
      id: 'listClients', method: 'GET', path: '/clients', tag: 'clients', scope: 'admin:clients.read', summary: 'List clients', query: clientListQuery,
      responses: { 200: { description: 'A page of clients.', schema: pageOf(clientSchema, 'ClientPage') } },
      async handle({ query }) {
        const all = (await clients.list())
          .filter((c) => (query.type === undefined || c.type === query.type) && (query.disabled === undefined || c.disabled === query.disabled))
          .sort((a, b) => createdKey(a.createdAt, a.clientId).localeCompare(createdKey(b.createdAt, b.clientId)));
        return { status: 200, body: page(all, (c) => createdKey(c.createdAt, c.clientId), query.cursor, query.limit, clientJson) };
      },
    }),
    operation({
      id: 'createClient', method: 'POST', path: '/clients', tag: 'clients', scope: 'admin:clients.write', summary: 'Create a client (confidential, public, service or mTLS)', body: newClientBody, audited: true, idempotent: true, secretFields: ['client_secret'],
      responses: { 201: { description: 'The client and, once, its secret.', schema: createdClientSchema } },
      async handle({ body, caller }) {
        const { client, clientSecret } = await clients.create(caller.actor, {
          type: body.type,
          name: body.name,
          redirectUris: body.redirect_uris ?? [],
          postLogoutRedirectUris: body.post_logout_redirect_uris ?? [],
          firstParty: body.first_party ?? false,
          ...(body.scope !== undefined ? { scope: body.scope } : {}),
          authMethod: body.token_endpoint_auth_method ?? 'client_secret_basic',
          idTokenSigningAlg: body.id_token_signed_response_alg ?? 'ES256',
          ...(body.tls_client_auth_subject_dn !== undefined ? { tlsSubjectDn: body.tls_client_auth_subject_dn } : {}),
          ...(body.tls_client_auth_san !== undefined ? { tlsSan: body.tls_client_auth_san } : {}),
          ...(body.certificate_pem !== undefined ? { certificatePem: body.certificate_pem } : {}),
          boundTokens: body.tls_client_certificate_bound_access_tokens ?? false,
          ...(body.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: body.backchannel_logout_uri } : {}),
          backchannelLogoutSessionRequired: body.backchannel_logout_session_required ?? false,
          ...(body.jwks !== undefined ? { jwks: body.jwks } : {}),
          dpopBoundTokens: body.dpop_bound_access_tokens ?? false,
          deviceFlow: body.device_flow ?? false,
          ...(body.security_profile !== undefined ? { securityProfile: body.security_profile } : {}),
        });
        return { status: 201, body: { client: clientJson(client), client_secret: clientSecret ?? null }, etag: versionTag(client), headers: { Location: `/admin/v1/clients/${encodeURIComponent(client.clientId)}` } };
      },
    }),
    operation({
      id: 'getClient', method: 'GET', path: '/clients/{clientId}', tag: 'clients', scope: 'admin:clients.read', summary: 'Read a client', params: clientParams, responses: one,
      async handle({ params }) {
        const client = await byId(params.clientId);
        return { status: 200, body: clientJson(client), etag: versionTag(client) };
      },
    }),
    operation({
      id: 'updateClient', method: 'PATCH', path: '/clients/{clientId}', tag: 'clients', scope: 'admin:clients.write',
      summary: 'Change name, redirect URIs, first-party marker, scopes or the DPoP requirement (If-Match required; type and authentication are read-only)',
      params: clientParams, body: clientPatchBody, etag: true, audited: true, responses: one,
      async handle({ params, body, caller, ifMatch }) {
        const { name, redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, first_party: firstParty, scope, dpop_bound_access_tokens: dpop } = body;
        const change = Object.fromEntries(Object.entries({ name, redirectUris, postLogoutRedirectUris, firstParty, scope }).filter(([, v]) => v !== undefined));
        let client = await updateIfMatch(ifMatch, await byId(params.clientId), (expected) => clients.update(caller.actor, params.clientId, change, expected));
        // RFC 9449 §5.2's flag has its own audited service method (it also checks mTLS binding); the If-Match above already held.
        if (dpop !== undefined && dpop !== client.dpopBoundTokens) client = await clients.setDpopBinding(caller.actor, client.clientId, dpop);
        return { status: 200, body: clientJson(client), etag: versionTag(client) };
      },
    }),
    operation({
      id: 'deleteClient', method: 'DELETE', path: '/clients/{clientId}', tag: 'clients', scope: 'admin:clients.write', summary: 'Delete a client', params: clientParams, audited: true,
      responses: { 204: { description: 'Deleted.' } },
      async handle({ params, caller }) {
        await clients.remove(caller.actor, (await byId(params.clientId)).clientId);
        return { status: 204 };
      },
    }),
    operation({
      id: 'disableClient', method: 'POST', path: '/clients/{clientId}/disable', tag: 'clients', scope: 'admin:clients.write', summary: 'Disable a client', params: clientParams, audited: true, responses: one,
      async handle({ params, caller }) {
        await clients.setDisabled(caller.actor, (await byId(params.clientId)).clientId, true);
        const client = await byId(params.clientId);
        return { status: 200, body: clientJson(client), etag: versionTag(client) };
      },
    }),
    operation({
      id: 'enableClient', method: 'POST', path: '/clients/{clientId}/enable', tag: 'clients', scope: 'admin:clients.write', summary: 'Enable a client', params: clientParams, audited: true, responses: one,
      async handle({ params, caller }) {
        await clients.setDisabled(caller.actor, (await byId(params.clientId)).clientId, false);
        const client = await byId(params.clientId);
        return { status: 200, body: clientJson(client), etag: versionTag(client) };
      },
    }),
    operation({
      id: 'listClientSecrets', method: 'GET', path: '/clients/{clientId}/secrets', tag: 'clients', scope: 'admin:clients.read', summary: "Secrets' metadata (never their values)", params: clientParams,
      responses: { 200: { description: 'The current secret and the previous ones still in their overlap.', schema: secretListSchema } },
      async handle({ params }) {
        return { status: 200, body: { items: (await clientSecrets.list((await byId(params.clientId)).clientId)).map(secretJson) } };
      },
    }),
    operation({
      id: 'rotateClientSecret', method: 'POST', path: '/clients/{clientId}/secrets', tag: 'clients', scope: 'admin:clients.write', summary: 'Rotate the secret; the previous one works until previous_expires_at',
      params: clientParams, body: rotateSecretBody, audited: true, idempotent: true, secretFields: ['client_secret'],
      responses: { 201: { description: 'The new secret, shown once.', schema: rotatedSecretSchema } },
      async handle({ params, body, caller }) {
        const { clientSecret, previousExpiresAt } = await clientSecrets.rotate(caller.actor, (await byId(params.clientId)).clientId, {
          ...(body.previous_expires_in !== undefined ? { overlapSeconds: body.previous_expires_in } : {}),
        });
        return { status: 201, body: { client_secret: clientSecret, previous_expires_at: previousExpiresAt.toISOString() } };
      },
    }),
    operation({
      id: 'revokeClientSecret', method: 'DELETE', path: '/clients/{clientId}/secrets/{secretId}', tag: 'clients', scope: 'admin:clients.write', summary: 'End a previous secret\'s overlap now',
      params: secretParams, audited: true, responses: { 204: { description: 'The previous secret no longer works.' } },
      async handle({ params, caller }) {
        await clientSecrets.revokePrevious(caller.actor, (await byId(params.clientId)).clientId, params.secretId);
        return { status: 204 };
      },
    }),
  ];
}
