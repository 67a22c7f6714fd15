/**
 * Request and response shapes of /admin/v1/api-keys and /exchange-policies
 * (issue 18), kept apart from schemas.ts by concern; the same rules hold:
 * strict requests, response shapes that name every field.
 */
import { z } from 'zod';

import { apiKeyOwnerSchema, maxApiKeyLifetimeSeconds, newApiKeySchema, rotationSchema } from '../api-keys/schemas.js';
import { exchangePolicySchema } from '../token-exchange/policies.js';
import { cursor, limit, nullableTimestamp, timestamp } from './schemas.js';

// API keys (issue 18 item 3)

export const apiKeyParams = z.strictObject({ id: z.string().min(1).max(200) });
const ownerText = z.string().regex(/^(client|user):.{1,200}$/, 'client:<client id> or user:<user id>');
export const apiKeyListQuery = z.strictObject({ limit, cursor, owner: ownerText.optional().describe('`client:<client id>` or `user:<user id>`: only that owner\'s keys.') });

export const apiKeySchema = z
  .strictObject({
    id: z.string(),
    status: z.enum(['active', 'expired', 'revoked']),
    owner: z.strictObject({ kind: z.enum(['client', 'user']), id: z.string() }),
    name: z.string(),
    scopes: z.array(z.string()),
    allowed_cidrs: z.array(z.string()),
    rate_limit: z.strictObject({ count: z.number().int(), window_seconds: z.number().int() }),
    expires_at: nullableTimestamp,
    revoked_at: nullableTimestamp,
    rotated_from: z.string().nullable().describe('The key this one replaced, when it came from a rotation.'),
    last_used_at: nullableTimestamp,
    last_used_ip: z.string().nullable(),
    created_at: timestamp,
  })
  .meta({ id: 'ApiKey', description: 'An API key\'s metadata; its value is shown only when it is made.' });

const keyShape = newApiKeySchema.shape;
export const newApiKeyBody = z
  .strictObject({
    owner: apiKeyOwnerSchema,
    name: keyShape.name,
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/)).max(100).optional(),
    expires_in: z.number().int().min(60).max(maxApiKeyLifetimeSeconds).describe('Seconds until the key stops working.'),
    allowed_cidrs: keyShape.allowedCidrs.unwrap().optional().describe('Address ranges the key is accepted from; empty: any.'),
    rate_limit: z
      .strictObject({ count: z.number().int().min(1).max(1_000_000), window_seconds: z.number().int().min(1).max(86_400) })
      .optional()
      .describe('Exchanges per window, counted on every node (default 60 per 60 s).'),
  })
  .meta({ id: 'NewApiKey' });

export const createdApiKeySchema = z
  .strictObject({ api_key: apiKeySchema, key: z.string().describe('Shown once, never again; Gatehouse keeps only its hash.') })
  .meta({ id: 'CreatedApiKey' });

export const rotateApiKeyBody = z
  .strictObject({ overlap_seconds: rotationSchema.shape.overlapSeconds.unwrap().optional().describe('Seconds the old key keeps working (default 86400; 0 ends it now).') })
  .meta({ id: 'ApiKeyRotation' });
export const rotatedApiKeySchema = z
  .strictObject({ api_key: apiKeySchema, key: z.string().describe('Shown once, never again.'), previous: apiKeySchema })
  .meta({ id: 'RotatedApiKey' });

// Token-exchange policies (issue 18 item 2)

export const exchangePolicySchemaOut = z
  .strictObject({
    client_id: z.string(),
    audiences: z.array(z.string()),
    may_impersonate: z.boolean().describe('May obtain a token that is the subject, with no `act` claim (RFC 8693 §1.1).'),
    max_lifetime_seconds: z.number().int(),
    updated_at: timestamp,
  })
  .meta({ id: 'ExchangePolicy' });
export const exchangePolicyListQuery = z.strictObject({ limit, cursor });

const policyShape = exchangePolicySchema.shape;
export const exchangePolicyBody = z
  .strictObject({
    audiences: policyShape.audiences.describe('Resource servers the client may exchange tokens into.'),
    may_impersonate: z.boolean().optional().describe('Default false: an actor_token is needed.'),
    max_lifetime_seconds: policyShape.maxLifetimeSeconds.unwrap().optional().describe('Longest lifetime of an exchanged token (default 300).'),
  })
  .meta({ id: 'ExchangePolicyInput' });
