import { z } from 'zod';

import { recordAs, type Actor, type Audit } from '../audit/events.js';
import type { Db, Queryable } from '../db/index.js';
import { RegistrationAdminError } from './errors.js';
import { baselinePolicy, policyRulesSchema, type PolicyInput, type PolicyRules } from './policy.js';
import { createPolicyStore, type PolicyRow } from './policy-store.js';

export const policyNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'policy names are lower-case letters, digits, - and _ (at most 63)');

export interface RegistrationPolicy {
  name: string;
  description: string | null;
  rules: PolicyRules;
  createdAt: Date;
  updatedAt: Date;
  /** Moves on with every write (migration 0023): the admin API's ETag. */
  version: number;
}

const toPolicy = (row: PolicyRow): RegistrationPolicy => ({
  name: row.name,
  description: row.description,
  // Parsed on every read: a row written by an older version picks up new defaults, and a hand-edited one fails loudly.
  rules: policyRulesSchema.parse(row.rules),
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  version: Number(row.version),
});

export interface PolicyService {
  /** Creates or replaces a policy; options not given take their defaults (the whole policy is what the operator typed). */
  set(actor: Actor, name: string, input: PolicyInput, description?: string): Promise<RegistrationPolicy>;
  /**
   * Replaces an existing policy as `set` does, if its version is still
   * `expectedVersion` (PUT with If-Match); 'stale' when another write came first.
   */
  replace(actor: Actor, name: string, input: PolicyInput, description: string | undefined, expectedVersion: number): Promise<RegistrationPolicy | 'stale'>;
  find(name: string): Promise<RegistrationPolicy | undefined>;
  list(): Promise<RegistrationPolicy[]>;
  remove(actor: Actor, name: string): Promise<void>;
  /** The rules a registration under `name` answers to; null is the baseline. */
  rules(name: string | null, executor?: Queryable): Promise<PolicyRules>;
}

/** Named registration policies, kept in the database so every node applies the same rules the moment an operator changes them. */
export function createPolicyService(db: Db, audit: Audit): PolicyService {
  const store = createPolicyStore(db);

  return {
    /** Creates or replaces a policy; options not given take their defaults (the whole policy is what the operator typed). */
    async set(actor: Actor, name: string, input: PolicyInput, description?: string): Promise<RegistrationPolicy> {
      const rules = policyRulesSchema.parse(input);
      const policy = toPolicy(await store.upsert({ name: policyNameSchema.parse(name), rules, description: description?.trim() || null }));
      recordAs(audit, actor, { type: 'registration_policy.saved', subject: policy.name, detail: { description: policy.description, rules: policy.rules } });
      return policy;
    },

    async replace(actor: Actor, name: string, input: PolicyInput, description: string | undefined, expectedVersion: number): Promise<RegistrationPolicy | 'stale'> {
      const rules = policyRulesSchema.parse(input);
      const row = await store.replaceIfVersion({ name, rules, description: description?.trim() || null }, expectedVersion);
      if (!row) {
        if (!(await store.find(name))) throw new RegistrationAdminError(`no such policy: ${name}`);
        return 'stale';
      }
      const policy = toPolicy(row);
      recordAs(audit, actor, { type: 'registration_policy.saved', subject: policy.name, detail: { description: policy.description, rules: policy.rules } });
      return policy;
    },

    async find(name: string): Promise<RegistrationPolicy | undefined> {
      const row = await store.find(name);
      return row ? toPolicy(row) : undefined;
    },

    async list(): Promise<RegistrationPolicy[]> {
      return (await store.list()).map(toPolicy);
    },

    async remove(actor: Actor, name: string): Promise<void> {
      const removed = await store.remove(name);
      if (removed === 'in-use') throw new RegistrationAdminError(`policy ${name} is still used by initial access tokens or registered clients; change it with \`policies set\` instead`);
      if (!removed) throw new RegistrationAdminError(`no such policy: ${name}`);
      recordAs(audit, actor, { type: 'registration_policy.removed', subject: name });
    },

    /** The rules a registration under `name` answers to; null is the baseline. */
    async rules(name: string | null, executor: Queryable = db): Promise<PolicyRules> {
      if (name === null) return baselinePolicy;
      const row = await store.find(name, executor);
      // A foreign key keeps referenced policies in place, so this is a broken database, not a client error.
      if (!row) throw new Error(`registration policy ${name} is referenced but missing`);
      return toPolicy(row).rules;
    },
  };
}

