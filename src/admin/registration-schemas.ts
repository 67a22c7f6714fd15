/**
 * Request and response shapes of /admin/v1/registration-policies and
 * /admin/v1/initial-access-tokens (RFC 7591 §3), in zod, strict as the rest
 * of src/admin/schemas.ts: the same objects validate requests and become the
 * OpenAPI document.
 */
import { z } from 'zod';

import { maxIatLifetimeSeconds } from '../registration/initial-access-tokens.js';
import { openidScopes, registrableAuthMethods, registrableGrantTypes } from '../registration/policy.js';
import { cursor, limit, nullableTimestamp, timestamp } from './schemas.js';


export const policyParams = z.strictObject({ name: z.string().min(1).max(63) });
export const iatParams = z.strictObject({ id: z.string().min(1).max(200) });

/** A policy's rules in the API's snake_case; the service's own schema (src/registration/policy.ts) applies defaults and judges them. */
const policyRulesShape = {
  grant_types: z.array(z.enum(registrableGrantTypes)).min(1).optional(),
  auth_methods: z.array(z.enum(registrableAuthMethods)).min(1).optional(),
  default_auth_method: z.enum(registrableAuthMethods).optional(),
  redirect_hosts: z.array(z.string().min(1).max(253)).min(1).max(100).optional().describe('Hosts https redirect URIs may use (`*.example.com` for subdomains); unset: any host.'),
  native_redirects: z.boolean().optional().describe('Loopback http and private-use scheme redirects (RFC 8252).'),
  scopes: z.array(z.enum(openidScopes)).optional(),
  resources: z.array(z.string().min(1).max(2000)).max(100).optional().describe('Resource indicators (RFC 8707) registered clients may ask tokens for.'),
  max_clients_per_token: z.number().int().min(1).max(1_000_000).optional(),
  secret_lifetime_seconds: z.number().int().min(300).max(5 * 366 * 86_400).optional(),
  require_software_statement: z.boolean().optional(),
};

export const policyRulesBody = z.strictObject(policyRulesShape).meta({ id: 'RegistrationPolicyRules' });

export const newPolicyBody = z
  .strictObject({ name: z.string().describe('Lower-case letters, digits, - and _ (at most 63).'), description: z.string().max(200).optional(), rules: policyRulesBody.optional() })
  .meta({ id: 'NewRegistrationPolicy' });

export const policyReplaceBody = z
  .strictObject({
    description: z.string().max(200).nullable().optional().describe('Left out: kept; null: cleared.'),
    rules: policyRulesBody.describe('The whole rule set: rules left out take their defaults (`{}` is the baseline).'),
  })
  .meta({ id: 'RegistrationPolicyReplacement' });

export const policySchema = z
  .strictObject({
    name: z.string(),
    description: z.string().nullable(),
    rules: z
      .strictObject({
        grant_types: z.array(z.string()),
        auth_methods: z.array(z.string()),
        default_auth_method: z.string(),
        redirect_hosts: z.array(z.string()).nullable(),
        native_redirects: z.boolean(),
        scopes: z.array(z.string()),
        resources: z.array(z.string()),
        max_clients_per_token: z.number().int().nullable(),
        secret_lifetime_seconds: z.number().int().nullable(),
        require_software_statement: z.boolean(),
      })
      .meta({ id: 'RegistrationPolicyRulesApplied' }),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'RegistrationPolicy' });

export const policyListQuery = z.strictObject({ limit, cursor });

export const iatSchema = z
  .strictObject({
    id: z.string(),
    policy: z.string().nullable(),
    description: z.string().nullable(),
    max_uses: z.number().int(),
    uses: z.number().int(),
    status: z.enum(['active', 'expired', 'used-up', 'revoked']),
    expires_at: timestamp,
    revoked_at: nullableTimestamp,
    last_used_at: nullableTimestamp,
    created_at: timestamp,
  })
  .meta({ id: 'InitialAccessToken' });

export const iatListQuery = z.strictObject({ limit, cursor, status: z.enum(['active', 'expired', 'used-up', 'revoked']).optional() });

export const newIatBody = z
  .strictObject({
    policy: z.string().min(1).max(63).optional().describe('Name of the registration policy the registered clients answer to; unset: the baseline.'),
    description: z.string().trim().max(200).optional(),
    expires_in: z.number().int().min(60).max(maxIatLifetimeSeconds).describe('Seconds until the token stops working.'),
    max_uses: z.number().int().min(1).max(1_000_000).optional().describe('Registrations it allows (default 1).'),
  })
  .meta({ id: 'NewInitialAccessToken' });

export const createdIatSchema = z
  .strictObject({ token: iatSchema, initial_access_token: z.string().describe('The bearer value for `POST /reg` (RFC 7591 §3), shown once: only its SHA-256 is kept.') })
  .meta({ id: 'CreatedInitialAccessToken' });
