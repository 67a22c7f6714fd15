/**
 * The OpenAPI 3.1 document of /admin/v1, generated from the operations and
 * their zod schemas with zod 4's own z.toJSONSchema (JSON Schema 2020-12, the
 * dialect OpenAPI 3.1 uses): one source for validation and documentation.
 * Named schemas (`.meta({ id })`) become components; the security scheme
 * points at Gatehouse's own endpoints with the scopes per operation.
 */
import { z } from 'zod';

import { adminAudience, adminScopes } from '../resources/admin-audience.js';
import type { Operation } from './operation.js';
import { problemSchema } from './problem.js';

type Json = Record<string, unknown>;

const scopeDescriptions: Record<string, string> = Object.fromEntries(
  adminScopes.map((s) => {
    const [family, access] = s.slice('admin:'.length).split('.');
    return [s, `${access === 'read' ? 'Read' : 'Change'} ${family}`];
  }),
);

export function openApiDocument(operations: readonly Operation[], issuer: string, serverUrl?: string): Json {
  const components: Record<string, Json> = {};

  function schemaOf(schema: z.ZodType, io: 'input' | 'output'): Json {
    const generated = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline' }) as Json;
    const { $schema: _dialect, $defs, ...rest } = generated as Json & { $defs?: Record<string, Json> };
    const rewrite = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewrite);
      if (value && typeof value === 'object') {
        return Object.fromEntries(
          Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace('#/$defs/', '#/components/schemas/') : rewrite(v)]),
        );
      }
      return value;
    };
    for (const [name, def] of Object.entries($defs ?? {})) components[name] = rewrite(def) as Json;
    // A named root comes back as a $ref into its own $defs entry, already copied into components.
    return rewrite(rest) as Json;
  }

  const problemRef = schemaOf(problemSchema, 'output');
  const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: problemRef } } });

  function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
    if (!schema) return [];
    const json = schemaOf(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
    return Object.entries(json.properties ?? {}).map(([name, s]) => ({
      name,
      in: where,
      required: where === 'path' || (json.required ?? []).includes(name),
      schema: s,
      ...(typeof s.description === 'string' ? { description: s.description } : {}),
    }));
  }

  const paths: Record<string, Record<string, Json>> = {};
  for (const op of operations) {
    const responses: Record<string, Json> = {};
    const responseHeaders: Record<string, Json> = {
      ...(op.idempotent ? { 'Idempotency-Replayed': { description: '`true` when this is the stored answer to an earlier request with the same Idempotency-Key.', schema: { type: 'string', enum: ['true'] } } } : {}),
      ...(op.deprecated
        ? {
            Deprecation: { description: 'RFC 9745: since when this operation is deprecated (`@<unix seconds>`).', schema: { type: 'string' } },
            ...(op.deprecated.sunset ? { Sunset: { description: 'RFC 8594: when it may stop answering (HTTP-date).', schema: { type: 'string' } } } : {}),
          }
        : {}),
    };
    for (const [status, r] of Object.entries(op.responses)) {
      responses[status] = {
        description: r.description,
        ...(Object.keys(responseHeaders).length ? { headers: responseHeaders } : {}),
        ...(r.schema ? { content: Object.fromEntries((r.media ?? ['application/json']).map((type) => [type, { schema: schemaOf(r.schema!, 'output') }])) } : {}),
      };
    }
    Object.assign(responses, {
      400: problem('Invalid input: the problem names the fields (unknown, read-only or invalid).'),
      401: problem('No valid token (`WWW-Authenticate: Bearer`), or a user write without a recent second factor (RFC 9470 step-up challenge).'),
      403: problem('The token lacks the scope (`insufficient_scope`), or the user holds no role that grants it.'),
      404: problem('No such resource.'),
      429: problem('Over the admin API rate limit; see Retry-After.'),
    });
    if (op.method !== 'GET') responses[409] = problem('The change conflicts with the current state.');
    if (op.body) {
      responses[413] = problem('The body is too large.');
      responses[415] = problem('The body is not application/json.');
    }
    if (op.etag) {
      responses[412] = problem('If-Match does not match the current representation (a stale write).');
      responses[428] = problem('If-Match is missing.');
    }
    if (op.idempotent) {
      responses[409] = problem('The change conflicts with the current state; or a request with this Idempotency-Key is still in progress; or it succeeded and showed a value once, which is not shown again (Location names the resource).');
      responses[422] = problem('This Idempotency-Key was used with a different request.');
    }
    const headerParams = [
      ...(op.etag ? [{ name: 'If-Match', in: 'header', required: true, schema: { type: 'string' }, description: 'The ETag from the last read.' }] : []),
      ...(op.idempotent
        ? [{
            name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 257 },
            description: `A quoted string (RFC 8941 sf-string) naming this create (draft-ietf-httpapi-idempotency-key-header): a retry with the same key and body within GATEHOUSE_ADMIN_IDEMPOTENCY_TTL gets the first response again (\`Idempotency-Replayed: true\`).`,
          }]
        : []),
    ];
    const deprecation = op.deprecated
      ? {
          deprecated: true,
          'x-deprecated-since': op.deprecated.since.toISOString(),
          ...(op.deprecated.sunset ? { 'x-sunset': op.deprecated.sunset.toISOString() } : {}),
        }
      : {};
    (paths[op.path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.id,
      summary: op.summary,
      tags: [op.tag],
      security: [{ gatehouse: [op.scope] }],
      'x-gatehouse-scope': op.scope,
      parameters: [...parameters(op.params, 'path'), ...parameters(op.query, 'query'), ...headerParams],
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(op.body, 'input') } } } } : {}),
      responses,
      ...deprecation,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse admin API',
      version: '1',
      description:
        `Authorised by Gatehouse's own access tokens for audience \`${adminAudience}\` (request it with the RFC 8707 \`resource\` parameter). ` +
        'Errors are RFC 9457 problem details. Conventions and the versioning policy: docs/admin-api.md.',
    },
    servers: [{ url: `${serverUrl ?? issuer}/admin/v1` }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        gatehouse: {
          type: 'oauth2',
          description: `Access tokens for audience ${adminAudience}; service clients through client credentials (certificate- or DPoP-bound in production), people through a first-party client with code + PKCE.`,
          flows: {
            clientCredentials: { tokenUrl: `${issuer}/token`, scopes: scopeDescriptions },
            authorizationCode: { authorizationUrl: `${issuer}/auth`, tokenUrl: `${issuer}/token`, scopes: scopeDescriptions },
          },
        },
      },
    },
  };
}
