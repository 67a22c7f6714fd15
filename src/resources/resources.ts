import { z } from 'zod';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import { createNamedCache } from '../db/cache.js';
import { adminAudience } from './admin-audience.js';
import type { Db } from '../db/index.js';

/**
 * Resource servers (APIs) that receive access tokens. A token requested for a
 * registered audience (RFC 8707 `resource`) is a JWT (RFC 9068) the API can
 * verify offline against the JWKS, unless the operator chose opaque tokens.
 */
export const newResourceSchema = z.object({
  audience: z.url().max(2000).refine((v) => !v.includes('#'), 'a resource indicator has no fragment (RFC 8707 §2)'),
  name: z.string().trim().min(1).max(200),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/, 'scope tokens are printable ASCII without space, quote or backslash')).max(100).default([]),
  accessTokenTtl: z.number().int().min(30).max(86_400),
  tokenFormat: z.enum(['jwt', 'opaque']).default('jwt'),
  signingAlg: z.enum(['ES256', 'RS256', 'PS256', 'EdDSA']).default('ES256'),
});

export type NewResource = z.input<typeof newResourceSchema>;

export interface ResourceServer {
  audience: string;
  name: string;
  scopes: string[];
  accessTokenTtl: number;
  tokenFormat: 'jwt' | 'opaque';
  signingAlg: string;
  createdAt: Date;
}

interface Row {
  audience: string;
  name: string;
  scopes: string[];
  access_token_ttl: number;
  token_format: 'jwt' | 'opaque';
  signing_alg: string;
  created_at: Date;
}

const toResource = (row: Row): ResourceServer => ({
  audience: row.audience,
  name: row.name,
  scopes: row.scopes,
  accessTokenTtl: row.access_token_ttl,
  tokenFormat: row.token_format,
  signingAlg: row.signing_alg,
  createdAt: row.created_at,
});

export class ResourceError extends Error {
  override name = 'ResourceError';
}

/** Longest a node serves a resource server's settings after a lost invalidation NOTIFY. */
export const resourceCacheTtlMs = 5_000;

export function createResourceService(db: Db, audit: Audit) {
  /**
   * The resource-server cache: every JWT access token request reads its
   * audience's settings. Add and remove invalidate it on all nodes; it caches
   * only once the server starts it.
   */
  const cache = createNamedCache<ResourceServer>(db, 'resource_servers', { ttlMs: resourceCacheTtlMs });
  return {
    /** The resource-server cache, which the server starts and stops. */
    cache,
    async add(actor: Actor, input: NewResource): Promise<ResourceServer> {
      const r = newResourceSchema.parse(input);
      if (r.audience === adminAudience) throw new ResourceError(`${adminAudience} is reserved for the admin API`);
      const { rows } = await db.query<Row>(
        `INSERT INTO resource_servers (audience, name, scopes, access_token_ttl, token_format, signing_alg)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6) ON CONFLICT (audience) DO NOTHING RETURNING *`,
        [r.audience, r.name, JSON.stringify(r.scopes), r.accessTokenTtl, r.tokenFormat, r.signingAlg],
      );
      if (!rows[0]) throw new ResourceError(`a resource server for ${r.audience} already exists`);
      await cache.invalidate(r.audience);
      recordAs(audit, actor, { type: 'resource.created', subject: r.audience, detail: { scopes: r.scopes, accessTokenTtl: r.accessTokenTtl, tokenFormat: r.tokenFormat } });
      return toResource(rows[0]);
    },
    /** The resource server if it is cached: the token endpoint's common case, answered without a promise. */
    cached(audience: string): ResourceServer | undefined {
      return cache.peek(audience);
    },
    async find(audience: string): Promise<ResourceServer | undefined> {
      return cache.get(audience, async () => {
        const { rows } = await db.query<Row>('SELECT * FROM resource_servers WHERE audience = $1', [audience]);
        return rows[0] ? toResource(rows[0]) : undefined;
      });
    },
    async list(): Promise<ResourceServer[]> {
      const { rows } = await db.query<Row>('SELECT * FROM resource_servers ORDER BY audience');
      return rows.map(toResource);
    },
    /** The longest access-token lifetime any resource server has: how long a signing key must stay published after it stops signing. */
    async maxAccessTokenTtl(): Promise<number> {
      const { rows } = await db.query<{ max: number | null }>('SELECT max(access_token_ttl) AS max FROM resource_servers');
      return rows[0]?.max ?? 0;
    },
    async remove(actor: Actor, audience: string): Promise<void> {
      const { rowCount } = await db.query('DELETE FROM resource_servers WHERE audience = $1', [audience]);
      await cache.invalidate(audience);
      if (rowCount === 0) throw new ResourceError('no such resource server');
      recordAs(audit, actor, { type: 'resource.removed', subject: audience });
    },
  };
}

export type ResourceService = ReturnType<typeof createResourceService>;
