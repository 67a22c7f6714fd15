/**
 * Per-client token-exchange rules (RFC 8693 §2.1 leaves them to the
 * authorization server): which audiences a client may exchange tokens into,
 * whether it may obtain a token that *is* the subject, with no `act` claim
 * (impersonation, §1.1), and the longest lifetime it may be given. A client
 * without a policy may not use the grant. Read from the table on each
 * exchange (no cache), so a change is in force on every node at once.
 */
import { z } from 'zod';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { Db } from '../db/index.js';
import { createExchangePolicyStore, type ExchangePolicyRow } from './store.js';

export interface ExchangePolicy {
  clientId: string;
  audiences: string[];
  mayImpersonate: boolean;
  maxLifetimeSeconds: number;
  updatedAt: Date;
}

export const exchangePolicySchema = z
  .object({
    audiences: z.array(z.string().min(1).max(2000)).max(100),
    mayImpersonate: z.boolean().default(false),
    maxLifetimeSeconds: z.number().int().min(1).max(86_400).default(300),
  })
  .strict();

export type ExchangePolicyInput = z.input<typeof exchangePolicySchema>;

/** `not_found`: the client or its policy is missing; `invalid`: the policy names an audience that is not a resource server. */
export class ExchangePolicyError extends Error {
  override name = 'ExchangePolicyError';
  constructor(message: string, readonly kind: 'not_found' | 'invalid' = 'invalid') {
    super(message);
  }
}

export interface ExchangePolicyService {
  find(clientId: string): Promise<ExchangePolicy | undefined>;
  /** Every policy, by client id. */
  list(): Promise<ExchangePolicy[]>;
  set(actor: Actor, clientId: string, input: ExchangePolicyInput): Promise<ExchangePolicy>;
  remove(actor: Actor, clientId: string): Promise<void>;
}

const toPolicy = (row: ExchangePolicyRow): ExchangePolicy => ({
  clientId: row.client_id,
  audiences: row.audiences,
  mayImpersonate: row.may_impersonate,
  maxLifetimeSeconds: row.max_lifetime_seconds,
  updatedAt: row.updated_at,
});

export function createExchangePolicyService(deps: { db: Db; audit: Audit; clientExists(clientId: string): Promise<boolean>; audienceExists(audience: string): Promise<boolean> }): ExchangePolicyService {
  const store = createExchangePolicyStore(deps.db);
  return {
    async find(clientId) {
      const row = await store.find(clientId);
      return row ? toPolicy(row) : undefined;
    },
    async list() {
      return (await store.list()).map(toPolicy);
    },
    async set(actor, clientId, input) {
      const parsed = exchangePolicySchema.parse(input);
      if (!(await deps.clientExists(clientId))) throw new ExchangePolicyError(`no such client: ${clientId}`, 'not_found');
      for (const audience of parsed.audiences) {
        if (!(await deps.audienceExists(audience))) throw new ExchangePolicyError(`no such resource server: ${audience}`);
      }
      const policy = toPolicy(await store.upsert({ clientId, audiences: [...new Set(parsed.audiences)], mayImpersonate: parsed.mayImpersonate, maxLifetimeSeconds: parsed.maxLifetimeSeconds }));
      recordAs(deps.audit, actor, { type: 'client.exchange_policy_set', subject: clientId, clientId, detail: { audiences: policy.audiences, mayImpersonate: policy.mayImpersonate, maxLifetimeSeconds: policy.maxLifetimeSeconds } });
      return policy;
    },
    async remove(actor, clientId) {
      if (!(await store.remove(clientId))) throw new ExchangePolicyError(`client ${clientId} has no token-exchange policy`, 'not_found');
      recordAs(deps.audit, actor, { type: 'client.exchange_policy_removed', subject: clientId, clientId });
    },
  };
}
