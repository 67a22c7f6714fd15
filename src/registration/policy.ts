/**
 * Registration policies: what a dynamically registered client may be. An
 * operator stores named policies (`gatehouse policies set`) and mints initial
 * access tokens under one; a client registered with that token is held to it
 * at registration and at every update. Without a named policy (open
 * registration, or a token minted without --policy) the baseline applies.
 *
 * A policy works in two steps, on either side of the library's own metadata
 * validation:
 *   - `applyPolicyDefaults` fills in what the client left out (auth method,
 *     scopes, resources) before the library validates and normalises;
 *   - `metadataViolation` judges the validated, normalised metadata (grant
 *     types implied by response types, defaults applied), which is what will be
 *     stored and enforced, so nothing the library adds slips past the rules.
 */
import { z } from 'zod';

import { redirectUriProblem } from './redirect-uris.js';
import { RegistrationError } from './errors.js';
import { apiScopesOf } from './registered-scope.js';

export const registrableGrantTypes = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
// The RFC 8705 methods are registrable when a policy allows them; the provider accepts them when mTLS is on.
export const registrableAuthMethods = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none', 'tls_client_auth', 'self_signed_tls_client_auth'] as const;

const hostPattern = z
  .string()
  .toLowerCase()
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'expected a host name such as app.example.com, or *.example.com for its subdomains');
/**
 * The OpenID scopes the provider offers (src/oidc/configuration.ts) that a
 * policy may allow. A registration's `scope` may also name the scopes of the
 * resource servers in its `resources` (src/registration/registered-scope.ts);
 * those are the resource servers' own, so a policy lists only its resources.
 */
export const openidScopes = ['openid', 'offline_access', 'profile', 'email'] as const;
const resourceIndicator = z.url().max(2000).refine((v) => !v.includes('#'), 'a resource indicator has no fragment (RFC 8707 §2)');
const unique = <T>(values: T[]) => [...new Set(values)];

export const policyRulesSchema = z
  .object({
    grantTypes: z.array(z.enum(registrableGrantTypes)).min(1).transform(unique).default(['authorization_code', 'refresh_token']),
    authMethods: z.array(z.enum(registrableAuthMethods)).min(1).transform(unique).default(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']),
    defaultAuthMethod: z.enum(registrableAuthMethods).default('client_secret_basic'),
    /** Hosts https redirect URIs (and reverse-domain native schemes) may use; unset: any host. */
    redirectHosts: z.array(hostPattern).min(1).max(100).transform(unique).optional(),
    /** Loopback http and private-use scheme redirects (RFC 8252 native apps). */
    nativeRedirects: z.boolean().default(true),
    /** OpenID scopes the client may register (its `scope` metadata). */
    scopes: z.array(z.enum(openidScopes)).transform(unique).default(['openid', 'profile', 'email', 'offline_access']),
    /** Resource indicators (RFC 8707) the client may ask tokens for. */
    resources: z.array(resourceIndicator).max(100).transform(unique).default([]),
    /** How many live clients one initial access token may have registered. */
    maxClientsPerToken: z.number().int().min(1).max(1_000_000).optional(),
    /** Lifetime of issued client secrets (`client_secret_expires_at`); unset: they do not expire. */
    secretLifetimeSeconds: z.number().int().min(300).max(5 * 366 * 86_400).optional(),
    requireSoftwareStatement: z.boolean().default(false),
    /**
     * Clients registered under this policy that have not obtained a token for this long (or never, counted
     * from registration) are removed by the cleanup job, so open registration does not pile up.
     */
    expireUnusedAfterSeconds: z.number().int().min(60).max(366 * 86_400).optional(),
    /** How many live clients one `software_id` may have registered under this policy (RFC 7591 §2). */
    maxClientsPerSoftware: z.number().int().min(1).max(1_000_000).optional(),
  })
  .strict()
  .refine((rules) => rules.authMethods.includes(rules.defaultAuthMethod), {
    path: ['defaultAuthMethod'],
    message: 'the default auth method must be one of the allowed auth methods',
  });

export type PolicyRules = z.output<typeof policyRulesSchema>;
export type PolicyInput = z.input<typeof policyRulesSchema>;

/** The rules when no named policy applies: browser and native apps with user sign-in, no APIs, no service clients. */
export const baselinePolicy: PolicyRules = policyRulesSchema.parse({});

type Metadata = Record<string, unknown>;

const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

/** Fills in what the client omitted, before the library validates (RFC 7591 §2: the server MAY default scope). */
export function applyPolicyDefaults(rules: PolicyRules, properties: Metadata): void {
  properties.token_endpoint_auth_method ??= rules.defaultAuthMethod;
  properties.scope ??= rules.scopes.join(' ');
  properties.resources ??= rules.resources;
}

const clientMetadata = (description: string) => new RegistrationError('invalid_client_metadata', description);

/** The scopes each resource server offers, by audience: what a registration's API scopes are judged against. */
export type ResourceScopes = ReadonlyMap<string, readonly string[]>;

/**
 * The first rule `metadata` (validated by the library) breaks, as the error to
 * answer with, or undefined. One finding at a time: RFC 7591 §3.2.2 carries one
 * error_description, and it should name the exact field and value.
 */
export function metadataViolation(rules: PolicyRules, metadata: Metadata, resourceScopes: ResourceScopes = new Map()): RegistrationError | undefined {
  if (metadata.software_statement !== undefined) {
    // Only the policy hook consumes statements; one that reaches this point was never verified.
    return new RegistrationError('invalid_software_statement', 'software statements are accepted only with an initial access token');
  }
  if (metadata.first_party !== undefined && metadata.first_party !== false) {
    return clientMetadata('first_party is set by operators, never by registration');
  }
  for (const grant of strings(metadata.grant_types)) {
    if (!(rules.grantTypes as readonly string[]).includes(grant)) {
      return clientMetadata(`grant_types: ${grant} is not allowed by the registration policy (allowed: ${rules.grantTypes.join(', ')})`);
    }
  }
  const method = String(metadata.token_endpoint_auth_method);
  if (!(rules.authMethods as readonly string[]).includes(method)) {
    return clientMetadata(`token_endpoint_auth_method: ${method} is not allowed by the registration policy (allowed: ${rules.authMethods.join(', ')})`);
  }
  // Both are URLs the server would fetch on the client's say-so (server-side request forgery).
  if (metadata.jwks_uri !== undefined) return clientMetadata('jwks_uri is not accepted: register public keys inline with jwks');
  if (metadata.sector_identifier_uri !== undefined) return clientMetadata('sector_identifier_uri is not accepted: pairwise subject identifiers are not offered');

  for (const [field, uris] of [['redirect_uris', metadata.redirect_uris], ['post_logout_redirect_uris', metadata.post_logout_redirect_uris]] as const) {
    for (const uri of strings(uris)) {
      const problem = redirectUriProblem(rules, uri);
      // The library maps a description starting with redirect_uris to invalid_redirect_uri.
      if (problem) return new RegistrationError(field === 'redirect_uris' ? 'invalid_redirect_uri' : 'invalid_client_metadata', `${field} ${uri} ${problem}`);
    }
  }

  for (const resource of strings(metadata.resources)) {
    if (!rules.resources.includes(resource)) {
      return clientMetadata(`resources: ${resource} is not allowed by the registration policy (allowed: ${rules.resources.join(' ') || 'none'})`);
    }
  }
  // API scopes (src/registration/registered-scope.ts): only those of the resource servers this client is
  // registered for, which the check above holds to the policy's. A scope no such server offers is unknown here.
  const apiScopes = new Set(strings(metadata.resources).flatMap((resource) => resourceScopes.get(resource) ?? []));
  for (const scope of apiScopesOf(metadata)) {
    if (!apiScopes.has(scope)) {
      return clientMetadata(`scope: ${scope} is not allowed by the registration policy (allowed: ${[...rules.scopes, ...apiScopes].join(' ') || 'none'})`);
    }
  }
  if (typeof metadata.scope !== 'string') {
    return clientMetadata(`scope: register the scopes this client needs (allowed: ${rules.scopes.join(' ') || 'none'})`);
  }
  for (const scope of metadata.scope.split(' ')) {
    if (!(rules.scopes as readonly string[]).includes(scope)) return clientMetadata(`scope: ${scope} is not allowed by the registration policy (allowed: ${rules.scopes.join(' ') || 'none'})`);
  }
  return undefined;
}
