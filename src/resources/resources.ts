import { z } from 'zod';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import { createNamedCache, type NamedCache } from '../db/cache.js';
import { adminAudience } from './admin-audience.js';
import type { Db } from '../db/index.js';
import { createResourceStore, type ResourceRow } from './store.js';

/**
 * Resource servers (APIs) that receive access tokens. A token requested for a
 * registered audience (RFC 8707 `resource`) is a JWT (RFC 9068) the API can
 * verify offline against the JWKS, unless the operator chose opaque tokens.
 */
/** Claims a resource server's JWT access tokens may carry about the subject's roles (RFC 9068 §7.2.1.1). */
export const tokenClaimNames = ['roles', 'groups'] as const;

export type TokenClaim = (typeof tokenClaimNames)[number];

const accessControlFields = {
  /** RBAC narrows the scopes of this server's tokens to what the subject holds: on for every new server. */
  rbac: z.boolean().default(true),
  /** A requested scope the subject does not hold: dropped from the token, or the request refused with invalid_scope. */
  unheldScopes: z.enum(['drop', 'refuse']).default('drop'),
  tokenClaims: z.array(z.enum(tokenClaimNames)).max(2).default([]),
};

export const newResourceSchema = z.object({
  audience: z.url().max(2000).refine((v) => !v.includes('#'), 'a resource indicator has no fragment (RFC 8707 §2)'),
  name: z.string().trim().min(1).max(200),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/, 'scope tokens are printable ASCII without space, quote or backslash')).max(100).default([]),
  accessTokenTtl: z.number().int().min(30).max(86_400),
  tokenFormat: z.enum(['jwt', 'opaque']).default('jwt'),
  signingAlg: z.enum(['ES256', 'RS256', 'PS256', 'EdDSA']).default('ES256'),
  ...accessControlFields,
});

/** Access control of one resource server (docs/rbac.md); changeable after registration. */
export const accessControlSchema = z.strictObject({
  rbac: z.boolean().optional(),
  unheldScopes: z.enum(['drop', 'refuse']).optional(),
  tokenClaims: z.array(z.enum(tokenClaimNames)).max(2).optional(),
});

export type AccessControlChange = z.input<typeof accessControlSchema>;

export type NewResource = z.input<typeof newResourceSchema>;

export interface ResourceServer {
  audience: string;
  name: string;
  scopes: string[];
  accessTokenTtl: number;
  tokenFormat: 'jwt' | 'opaque';
  signingAlg: string;
  rbac: boolean;
  unheldScopes: 'drop' | 'refuse';
  tokenClaims: TokenClaim[];
  createdAt: Date;
  updatedAt: Date;
  /** Bumped by every UPDATE of the row: the admin API's ETag. */
  version: number;
}

/** What PATCH may change: everything but the audience, which is the resource server's identity. */
// Spelled out: `.partial()` would keep the creation defaults, and a PATCH of the name would reset the scopes.
const shape = newResourceSchema.shape;
export const resourceChangeSchema = z
  .object({
    name: shape.name.optional(),
    scopes: shape.scopes.removeDefault().optional(),
    accessTokenTtl: shape.accessTokenTtl.optional(),
    tokenFormat: shape.tokenFormat.removeDefault().optional(),
    signingAlg: shape.signingAlg.removeDefault().optional(),
  })
  .strict();
export type ResourceChange = z.input<typeof resourceChangeSchema>;

const toResource = (row: ResourceRow): ResourceServer => ({
  audience: row.audience,
  name: row.name,
  scopes: row.scopes,
  accessTokenTtl: row.access_token_ttl,
  tokenFormat: row.token_format,
  signingAlg: row.signing_alg,
  rbac: row.rbac,
  unheldScopes: row.unheld_scopes,
  tokenClaims: row.token_claims,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  version: Number(row.version),
});

export class ResourceError extends Error {
  override name = 'ResourceError';
}

/** Longest a node serves a resource server's settings after a lost invalidation NOTIFY. */
export const resourceCacheTtlMs = 5_000;

export interface ResourceService {
  /** The resource-server cache, which the composition root starts and stops. */
  cache: NamedCache<ResourceServer>;
  add(actor: Actor, input: NewResource): Promise<ResourceServer>;
  /** The resource server if it is cached: the token endpoint's common case, answered without a promise. */
  cached(audience: string): ResourceServer | undefined;
  find(audience: string): Promise<ResourceServer | undefined>;
  list(): Promise<ResourceServer[]>;
  /** The longest access-token lifetime any resource server has: how long a signing key must stay published after it stops signing. */
  maxAccessTokenTtl(): Promise<number>;
  remove(actor: Actor, audience: string): Promise<void>;
  /** Changes RBAC on or off, the unheld-scope rule and the token claims; undefined fields stay. */
  setAccessControl(actor: Actor, audience: string, change: AccessControlChange): Promise<ResourceServer>;
  /** Changes a resource server if it is still at `expectedVersion`; `stale` when someone changed it since. */
  update(actor: Actor, audience: string, change: ResourceChange, expectedVersion: number): Promise<ResourceServer | 'stale'>;
}

export function createResourceService(db: Db, audit: Audit): ResourceService {
  const store = createResourceStore(db);
  /**
   * The resource-server cache: every JWT access token request reads its
   * audience's settings. Add and remove invalidate it on all nodes; it caches
   * only once the server starts it.
   */
  const cache = createNamedCache<ResourceServer>(db, 'resource_servers', { ttlMs: resourceCacheTtlMs });
  return {
    cache,
    async add(actor: Actor, input: NewResource): Promise<ResourceServer> {
      const r = newResourceSchema.parse(input);
      if (r.audience === adminAudience) throw new ResourceError(`${adminAudience} is reserved for the admin API`);
      const row = await store.insert({
        audience: r.audience, name: r.name, scopes: r.scopes, access_token_ttl: r.accessTokenTtl, token_format: r.tokenFormat, signing_alg: r.signingAlg,
        rbac: r.rbac, unheld_scopes: r.unheldScopes, token_claims: [...new Set(r.tokenClaims)],
      });
      if (!row) throw new ResourceError(`a resource server for ${r.audience} already exists`);
      await cache.invalidate(r.audience);
      recordAs(audit, actor, { type: 'resource.created', subject: r.audience, detail: { scopes: r.scopes, accessTokenTtl: r.accessTokenTtl, tokenFormat: r.tokenFormat, rbac: r.rbac, unheldScopes: r.unheldScopes, tokenClaims: r.tokenClaims } });
      return toResource(row);
    },
    cached(audience: string): ResourceServer | undefined {
      return cache.peek(audience);
    },
    async find(audience: string): Promise<ResourceServer | undefined> {
      return cache.get(audience, async () => {
        const row = await store.find(audience);
        return row ? toResource(row) : undefined;
      });
    },
    async list(): Promise<ResourceServer[]> {
      return (await store.list()).map(toResource);
    },
    maxAccessTokenTtl: () => store.maxAccessTokenTtl(),
    async update(actor: Actor, audience: string, input: ResourceChange, expectedVersion: number): Promise<ResourceServer | 'stale'> {
      const parsed = resourceChangeSchema.safeParse(input);
      if (!parsed.success) throw new ResourceError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const current = await store.find(audience);
      if (!current) throw new ResourceError('no such resource server');
      if (Number(current.version) !== expectedVersion) return 'stale';
      const c = parsed.data;
      if (Object.keys(c).length === 0) return toResource(current);
      const row = await store.updateIfVersion(
        audience,
        {
          name: c.name ?? current.name,
          scopes: c.scopes ?? current.scopes,
          access_token_ttl: c.accessTokenTtl ?? current.access_token_ttl,
          token_format: c.tokenFormat ?? current.token_format,
          signing_alg: c.signingAlg ?? current.signing_alg,
        },
        expectedVersion,
      );
      await cache.invalidate(audience);
      if (!row) {
        if (!(await store.find(audience))) throw new ResourceError('no such resource server');
        return 'stale';
      }
      recordAs(audit, actor, { type: 'resource.updated', subject: audience, detail: { fields: Object.keys(c).sort(), scopes: row.scopes, accessTokenTtl: row.access_token_ttl } });
      return toResource(row);
    },
    async remove(actor: Actor, audience: string): Promise<void> {
      const removed = await store.remove(audience);
      await cache.invalidate(audience);
      if (!removed) throw new ResourceError('no such resource server');
      recordAs(audit, actor, { type: 'resource.removed', subject: audience });
    },
    async setAccessControl(actor: Actor, audience: string, input: AccessControlChange): Promise<ResourceServer> {
      const change = accessControlSchema.parse(input);
      const row = await store.setAccessControl(audience, {
        rbac: change.rbac ?? null,
        unheld_scopes: change.unheldScopes ?? null,
        token_claims: change.tokenClaims ? [...new Set(change.tokenClaims)] : null,
      });
      await cache.invalidate(audience);
      if (!row) throw new ResourceError('no such resource server');
      recordAs(audit, actor, { type: 'resource.access_control_changed', subject: audience, detail: { ...change } });
      return toResource(row);
    },
  };
}

