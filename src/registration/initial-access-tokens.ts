/**
 * Initial access tokens (RFC 7591 §3): what an operator hands a developer so
 * that one (or N) clients can register, under a policy, until a deadline.
 *
 * They live in their own table rather than in the library's InitialAccessToken
 * model because operators need what that model does not have: a listable id,
 * a use count with a cap, revocation that leaves a record, and a link from each
 * client to the token that registered it. The library still does the protocol
 * part: its InitialAccessToken adapter (src/oidc/adapter.ts) finds tokens here.
 */
import { randomBytes } from 'node:crypto';

import { z } from 'zod';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { Db, Queryable } from '../db/index.js';
import { sha256 } from '../crypto/digest.js';
import { RegistrationAdminError } from './errors.js';
import type { PolicyService } from './policies.js';
import { createIatStore, type IatRow } from './iat-store.js';

export const maxIatLifetimeSeconds = 366 * 86_400;

export const newIatSchema = z.object({
  policy: z.string().min(1).optional(),
  description: z.string().trim().max(200).optional(),
  expiresInSeconds: z.number().int().min(60).max(maxIatLifetimeSeconds),
  maxUses: z.number().int().min(1).max(1_000_000).default(1),
});

export type NewIat = z.input<typeof newIatSchema>;
export type IatStatus = 'active' | 'expired' | 'used-up' | 'revoked';

export interface InitialAccessToken {
  id: string;
  policy: string | null;
  description: string | null;
  maxUses: number;
  uses: number;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
  status: IatStatus;
}

function statusOf(row: IatRow, now = Date.now()): IatStatus {
  if (row.revoked_at) return 'revoked';
  if (row.uses >= row.max_uses) return 'used-up';
  if (row.expires_at.getTime() <= now) return 'expired';
  return 'active';
}

export const toIat = (row: IatRow): InitialAccessToken => ({
  id: row.id,
  policy: row.policy,
  description: row.description,
  maxUses: row.max_uses,
  uses: row.uses,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
  createdAt: row.created_at,
  status: statusOf(row),
});

export interface IatService {
  /** Mints a token; its value is returned this once and only its SHA-256 is kept. */
  create(actor: Actor, input: NewIat): Promise<{
    token: InitialAccessToken;
    value: string;
  }>;
  list(): Promise<InitialAccessToken[]>;
  find(id: string): Promise<InitialAccessToken | undefined>;
  revoke(actor: Actor, id: string): Promise<void>;
  /** The token behind a presented value if it may register a client now. */
  findUsable(value: string): Promise<InitialAccessToken | undefined>;
  /** Any token behind a presented value, usable or not (for audit: why it was refused). */
  findPresented(value: string): Promise<InitialAccessToken | undefined>;
  /** Counts one registration against the token, atomically; undefined when it is no longer usable. */
  consumeUse(tx: Queryable, value: string): Promise<InitialAccessToken | undefined>;
}

export function createIatService(db: Db, policies: PolicyService, audit: Audit): IatService {
  const store = createIatStore(db);

  return {
    /** Mints a token; its value is returned this once and only its SHA-256 is kept. */
    async create(actor: Actor, input: NewIat): Promise<{ token: InitialAccessToken; value: string }> {
      const parsed = newIatSchema.parse(input);
      if (parsed.policy !== undefined && !(await policies.find(parsed.policy))) {
        throw new RegistrationAdminError(`no such policy: ${parsed.policy} (create it with \`gatehouse policies set ${parsed.policy}\`)`);
      }
      const value = randomBytes(32).toString('base64url');
      const row = await store.insert({
        id: randomBytes(8).toString('hex'),
        tokenHash: sha256(value),
        policy: parsed.policy ?? null,
        description: parsed.description || null,
        maxUses: parsed.maxUses,
        expiresInSeconds: parsed.expiresInSeconds,
      });
      const token = toIat(row);
      recordAs(audit, actor, { type: 'iat.created', subject: token.id, detail: { policy: token.policy, maxUses: token.maxUses, expiresAt: new Date(token.expiresAt).toISOString() } });
      return { token, value };
    },

    async list(): Promise<InitialAccessToken[]> {
      return (await store.list()).map((row) => toIat(row));
    },

    async find(id: string): Promise<InitialAccessToken | undefined> {
      const row = await store.findById(id);
      return row ? toIat(row) : undefined;
    },

    async revoke(actor: Actor, id: string): Promise<void> {
      if (await store.revoke(id)) return recordAs(audit, actor, { type: 'iat.revoked', subject: id });
      const existing = await store.findById(id);
      throw new RegistrationAdminError(existing ? `initial access token ${id} is already revoked` : `no such initial access token: ${id}`);
    },

    /** The token behind a presented value if it may register a client now. */
    async findUsable(value: string): Promise<InitialAccessToken | undefined> {
      const row = await store.findUsable(sha256(value));
      return row ? toIat(row) : undefined;
    },

    /** Any token behind a presented value, usable or not (for audit: why it was refused). */
    async findPresented(value: string): Promise<InitialAccessToken | undefined> {
      const row = await store.findByHash(sha256(value));
      return row ? toIat(row) : undefined;
    },

    /** Counts one registration against the token, atomically; undefined when it is no longer usable. */
    async consumeUse(tx: Queryable, value: string): Promise<InitialAccessToken | undefined> {
      const row = await store.consumeUse(tx, sha256(value));
      return row ? toIat(row) : undefined;
    },
  };
}

