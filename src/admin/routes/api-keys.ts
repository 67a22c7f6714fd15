/** /admin/v1/api-keys: thin handlers over the API key service (issue 18 item 3). A key's value leaves only in the answer that made it. */
import { ApiKeyError, type ApiKey } from '../../api-keys/api-keys.js';
import type { Services } from '../../services.js';
import { operation, type Operation } from '../operation.js';
import { createdKey, page } from '../pagination.js';
import { AdminProblem, problemTypes } from '../problem.js';
import { apiKeyListQuery, apiKeyParams, apiKeySchema, createdApiKeySchema, newApiKeyBody, rotateApiKeyBody, rotatedApiKeySchema } from '../credential-schemas.js';
import { pageOf } from '../schemas.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const apiKeyJson = (k: ApiKey) => ({
  id: k.id,
  status: k.status,
  owner: { kind: k.owner.kind, id: k.owner.id },
  name: k.name,
  scopes: k.scopes,
  allowed_cidrs: k.allowedCidrs,
  rate_limit: { count: k.rateLimit.count, window_seconds: k.rateLimit.windowSeconds },
  expires_at: iso(k.expiresAt),
  revoked_at: iso(k.revokedAt),
  rotated_from: k.rotatedFrom,
  last_used_at: iso(k.lastUsedAt),
  last_used_ip: k.lastUsedIp,
  created_at: k.createdAt.toISOString(),
});

/** `client:<id>` or `user:<id>` (the schema has checked the shape). */
const ownerOf = (text: string) => {
  const at = text.indexOf(':');
  return { kind: text.slice(0, at) as 'client' | 'user', id: text.slice(at + 1) };
};

export function apiKeyOperations(services: Pick<Services, 'apiKeys'>): Operation[] {
  const { apiKeys } = services;
  const byId = async (id: string) => {
    const key = await apiKeys.find(id);
    if (!key) throw new AdminProblem(404, 'There is no API key with this id.');
    return key;
  };
  const one = { 200: { description: 'The API key (metadata only).', schema: apiKeySchema } };
  return [
    operation({
      id: 'listApiKeys', method: 'GET', path: '/api-keys', tag: 'api-keys', scope: 'admin:clients.read', summary: 'List API keys (metadata, never values)', query: apiKeyListQuery,
      responses: { 200: { description: 'A page of API keys, oldest first.', schema: pageOf(apiKeySchema, 'ApiKeyPage') } },
      async handle({ query }) {
        const keys = await apiKeys.list(query.owner ? ownerOf(query.owner) : undefined);
        return { status: 200, body: page(keys, (k) => createdKey(k.createdAt, k.id), query.cursor, query.limit, apiKeyJson) };
      },
    }),
    operation({
      id: 'createApiKey', method: 'POST', path: '/api-keys', tag: 'api-keys', scope: 'admin:clients.write', summary: 'Make an API key for a service client or a user; its value is shown once', body: newApiKeyBody, audited: true,
      responses: { 201: { description: 'The key\'s metadata and, this once, its value.', schema: createdApiKeySchema } },
      async handle({ body, caller }) {
        try {
          const { key, value } = await apiKeys.create(caller.actor, {
            owner: body.owner,
            name: body.name,
            scopes: body.scopes ?? [],
            expiresInSeconds: body.expires_in,
            allowedCidrs: body.allowed_cidrs ?? [],
            ...(body.rate_limit ? { rateLimit: { count: body.rate_limit.count, windowSeconds: body.rate_limit.window_seconds } } : {}),
          });
          return { status: 201, body: { api_key: apiKeyJson(key), key: value }, headers: { Location: `/admin/v1/api-keys/${key.id}`, 'Cache-Control': 'no-store' } };
        } catch (error) {
          // The owner is a field of the body, not the resource addressed: 400, not 404.
          if (error instanceof ApiKeyError && error.kind === 'not_found') throw new AdminProblem(400, 'The owner is not an existing, enabled client or user.', { type: problemTypes.validation, fields: ['body.owner'] });
          throw error;
        }
      },
    }),
    operation({
      id: 'getApiKey', method: 'GET', path: '/api-keys/{id}', tag: 'api-keys', scope: 'admin:clients.read', summary: 'Read an API key\'s metadata, with its last use', params: apiKeyParams, responses: one,
      async handle({ params }) {
        return { status: 200, body: apiKeyJson(await byId(params.id)) };
      },
    }),
    operation({
      id: 'rotateApiKey', method: 'POST', path: '/api-keys/{id}/rotate', tag: 'api-keys', scope: 'admin:clients.write',
      summary: 'Make a successor with the same owner, scopes, ranges and budget; the old key works for overlap_seconds more', params: apiKeyParams, body: rotateApiKeyBody, audited: true,
      responses: { 201: { description: 'The new key, its value shown once, and the old key with its shortened expiry.', schema: rotatedApiKeySchema } },
      async handle({ params, body, caller }) {
        const { key, value, previous } = await apiKeys.rotate(caller.actor, (await byId(params.id)).id, body.overlap_seconds !== undefined ? { overlapSeconds: body.overlap_seconds } : {});
        return { status: 201, body: { api_key: apiKeyJson(key), key: value, previous: apiKeyJson(previous) }, headers: { Location: `/admin/v1/api-keys/${key.id}`, 'Cache-Control': 'no-store' } };
      },
    }),
    operation({
      id: 'revokeApiKey', method: 'POST', path: '/api-keys/{id}/revoke', tag: 'api-keys', scope: 'admin:clients.write', summary: 'Revoke an API key: refused from the next exchange on, on every node',
      params: apiKeyParams, audited: true, responses: one,
      async handle({ params, caller }) {
        return { status: 200, body: apiKeyJson(await apiKeys.revoke(caller.actor, (await byId(params.id)).id)) };
      },
    }),
  ];
}
