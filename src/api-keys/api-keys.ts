/**
 * API keys (issue 18 item 3): long-lived credentials owned by a service
 * client or a user, each with a name, scopes, an expiry, the address ranges
 * it is accepted from and its own rate budget. A key is never sent to an API:
 * it is exchanged at the token endpoint (RFC 8693, src/oidc/token-exchange.ts)
 * for a short-lived JWT, and `use` below is the one check every exchange goes
 * through. The value exists once, in the answer to `create` or `rotate`; the
 * table keeps its SHA-256 (DESIGN invariant 1).
 */
import { randomBytes } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

import type { RateLimiterAbstract } from 'rate-limiter-flexible';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import { sha256 } from '../crypto/digest.js';
import type { LimiterFactory } from '../db/counters.js';
import type { Db } from '../db/index.js';
import { generateApiKey, isWellFormed } from './format.js';
import { newApiKeySchema, rotationSchema, type NewApiKey, type Rotation } from './schemas.js';
import { createApiKeyStore, type ApiKeyInsert, type ApiKeyRow } from './store.js';

export type ApiKeyStatus = 'active' | 'expired' | 'revoked';
export type ApiKeyOwner = { kind: 'client' | 'user'; id: string };

export interface ApiKey {
  id: string;
  owner: ApiKeyOwner;
  name: string;
  scopes: string[];
  allowedCidrs: string[];
  rateLimit: { count: number; windowSeconds: number };
  expiresAt: Date | null;
  revokedAt: Date | null;
  rotatedFrom: string | null;
  lastUsedAt: Date | null;
  lastUsedIp: string | null;
  createdAt: Date;
  status: ApiKeyStatus;
}

/** Why a presented key was refused; the caller turns it into a protocol error, never echoing the reason to a stranger. */
export type ApiKeyRefusal = 'malformed' | 'unknown' | 'revoked' | 'expired' | 'address' | 'owner' | 'budget';

export type ApiKeyUse = { ok: true; key: ApiKey } | { ok: false; reason: ApiKeyRefusal; key?: ApiKey; retryAfterSeconds?: number };

/** An operator's or admin caller's mistake (unknown owner or key, already revoked): the message is the whole story. */
export class ApiKeyError extends Error {
  override name = 'ApiKeyError';
  constructor(message: string, readonly kind: 'not_found' | 'conflict' | 'invalid' = 'invalid') {
    super(message);
  }
}

export interface ApiKeyService {
  /** Makes a key; its value is returned this once. */
  create(actor: Actor, input: NewApiKey): Promise<{ key: ApiKey; value: string }>;
  list(owner?: ApiKeyOwner): Promise<ApiKey[]>;
  find(id: string): Promise<ApiKey | undefined>;
  /** A new key with the same owner, scopes, ranges and budget; the old one works for `overlapSeconds` more. */
  rotate(actor: Actor, id: string, input?: Rotation): Promise<{ key: ApiKey; value: string; previous: ApiKey }>;
  /** Refused from the next request on, on every node (the table is read on each use). */
  revoke(actor: Actor, id: string): Promise<ApiKey>;
  /** Checks a presented key from `ip` and spends one point of its budget; records the use or the refusal. */
  use(value: string, ip: string): Promise<ApiKeyUse>;
}

export interface ApiKeyDeps {
  db: Db;
  audit: Audit;
  counters: LimiterFactory;
  /** Whether the owner still exists and is enabled: a disabled user's keys stop with them. */
  ownerStands(owner: ApiKeyOwner): Promise<boolean>;
}

function statusOf(row: ApiKeyRow, now = Date.now()): ApiKeyStatus {
  if (row.revoked_at) return 'revoked';
  if (row.expires_at && row.expires_at.getTime() <= now) return 'expired';
  return 'active';
}

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  owner: { kind: row.owner_kind, id: row.owner_id },
  name: row.name,
  scopes: row.scopes,
  allowedCidrs: row.allowed_cidrs,
  rateLimit: { count: row.rate_count, windowSeconds: row.rate_window_seconds },
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  rotatedFrom: row.rotated_from,
  lastUsedAt: row.last_used_at,
  lastUsedIp: row.last_used_ip,
  createdAt: row.created_at,
  status: statusOf(row),
});

/** `::ffff:10.0.0.1` is 10.0.0.1, as the edge sees it (src/http/client-ip.ts). */
const plainAddress = (ip: string) => /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip)?.[1] ?? ip;

export function addressAllowed(cidrs: readonly string[], ip: string): boolean {
  if (cidrs.length === 0) return true;
  const address = plainAddress(ip);
  const family = isIP(address);
  if (family === 0) return false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [base, prefix] = cidr.split('/') as [string, string];
    list.addSubnet(base, Number(prefix), isIP(base) === 6 ? 'ipv6' : 'ipv4');
  }
  return list.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

const newId = () => `key_${randomBytes(8).toString('hex')}`;

export function createApiKeyService(deps: ApiKeyDeps): ApiKeyService {
  const { audit } = deps;
  const store = createApiKeyStore(deps.db);
  // One limiter per budget shape; each key counts under its own id, shared by every node on PostgreSQL.
  const limiters = new Map<string, RateLimiterAbstract>();
  const limiterFor = (count: number, windowSeconds: number) => {
    const name = `rl.api-key.${count}.${windowSeconds}`;
    let limiter = limiters.get(name);
    if (!limiter) limiters.set(name, (limiter = deps.counters.limiter(name, count, windowSeconds)));
    return limiter;
  };

  async function spend(key: ApiKey): Promise<number | undefined> {
    try {
      await limiterFor(key.rateLimit.count, key.rateLimit.windowSeconds).consume(key.id, 1);
      return undefined;
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      return Math.max(1, Math.ceil(((rejection as { msBeforeNext?: number }).msBeforeNext ?? 1000) / 1000));
    }
  }

  function refuse(reason: ApiKeyRefusal, ip: string, key?: ApiKey, retryAfterSeconds?: number): ApiKeyUse {
    audit.record({
      type: 'api_key.refused',
      outcome: 'failure',
      ip,
      ...(key ? { actor: key.owner.id, subject: key.id } : {}),
      detail: { reason },
    });
    return { ok: false, reason, ...(key ? { key } : {}), ...(retryAfterSeconds ? { retryAfterSeconds } : {}) };
  }

  return {
    async create(actor, input) {
      const parsed = newApiKeySchema.parse(input);
      if (!(await deps.ownerStands(parsed.owner))) throw new ApiKeyError(`no such ${parsed.owner.kind}: ${parsed.owner.id}`, 'not_found');
      const value = generateApiKey();
      const row = await store.insert({
        id: newId(),
        keyHash: sha256(value),
        ownerKind: parsed.owner.kind,
        ownerId: parsed.owner.id,
        name: parsed.name,
        scopes: [...new Set(parsed.scopes)],
        allowedCidrs: parsed.allowedCidrs,
        rateCount: parsed.rateLimit.count,
        rateWindowSeconds: parsed.rateLimit.windowSeconds,
        expiresAt: new Date(Date.now() + parsed.expiresInSeconds * 1000),
        rotatedFrom: null,
      });
      const key = toApiKey(row);
      recordAs(audit, actor, { type: 'api_key.created', subject: key.id, detail: { owner: `${key.owner.kind}:${key.owner.id}`, scopes: key.scopes, expiresAt: key.expiresAt?.toISOString() } });
      return { key, value };
    },

    async list(owner) {
      return (await store.list(owner)).map(toApiKey);
    },

    async find(id) {
      const row = await store.findById(id);
      return row ? toApiKey(row) : undefined;
    },

    async rotate(actor, id, input = {}) {
      const { overlapSeconds } = rotationSchema.parse(input);
      const old = await store.findById(id);
      if (!old) throw new ApiKeyError(`no such API key: ${id}`, 'not_found');
      const value = generateApiKey();
      // The new key lives as long as the old one was meant to, so rotation never extends what the operator set.
      const lifetimeMs = Math.max(60_000, (old.expires_at?.getTime() ?? Date.now()) - old.created_at.getTime());
      const next: ApiKeyInsert = {
        id: newId(),
        keyHash: sha256(value),
        ownerKind: old.owner_kind,
        ownerId: old.owner_id,
        name: old.name,
        scopes: old.scopes,
        allowedCidrs: old.allowed_cidrs,
        rateCount: old.rate_count,
        rateWindowSeconds: old.rate_window_seconds,
        expiresAt: new Date(Date.now() + lifetimeMs),
        rotatedFrom: old.id,
      };
      const rotated = await store.rotate(id, overlapSeconds, next);
      if (!rotated) throw new ApiKeyError(`API key ${id} is ${statusOf(old)}: only an active key can be rotated`, 'conflict');
      const key = toApiKey(rotated.created);
      const previous = toApiKey(rotated.previous);
      recordAs(audit, actor, { type: 'api_key.rotated', subject: key.id, detail: { previous: previous.id, previousExpiresAt: previous.expiresAt?.toISOString(), overlapSeconds } });
      return { key, value, previous };
    },

    async revoke(actor, id) {
      const row = await store.revoke(id);
      if (!row) {
        const existing = await store.findById(id);
        throw existing ? new ApiKeyError(`API key ${id} is already revoked`, 'conflict') : new ApiKeyError(`no such API key: ${id}`, 'not_found');
      }
      recordAs(audit, actor, { type: 'api_key.revoked', subject: id, detail: { owner: `${row.owner_kind}:${row.owner_id}` } });
      return toApiKey(row);
    },

    async use(value, ip) {
      // The checksum turns away typos and made-up keys without a query.
      if (!isWellFormed(value)) return refuse('malformed', ip);
      const row = await store.findByHash(sha256(value));
      if (!row) return refuse('unknown', ip);
      const key = toApiKey(row);
      if (key.status !== 'active') return refuse(key.status, ip, key);
      if (!addressAllowed(key.allowedCidrs, ip)) return refuse('address', ip, key);
      if (!(await deps.ownerStands(key.owner))) return refuse('owner', ip, key);
      const retryAfter = await spend(key);
      if (retryAfter !== undefined) return refuse('budget', ip, key, retryAfter);
      await store.recordUse(key.id, ip);
      audit.record({ type: 'api_key.used', outcome: 'success', actor: key.owner.id, subject: key.id, ip });
      return { ok: true, key: { ...key, lastUsedAt: new Date(), lastUsedIp: ip } };
    },
  };
}
