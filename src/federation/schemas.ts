/**
 * What an upstream identity provider is configured with, parsed at the edge
 * (CLI, admin API) before the service sees it, and the presets that fill in
 * what Google, Microsoft Entra ID and GitHub need.
 */
import { z } from 'zod';

import { isLoopbackHost } from '../config/index.js';

/** How a user the upstream vouches for meets a local account (docs/federation.md). */
export const linkingPolicies = ['jit-create', 'link-after-sign-in', 'link-by-verified-email-when-trusted', 'refuse'] as const;
export type LinkingPolicy = (typeof linkingPolicies)[number];

/** Whether Gatehouse's own second factor may be skipped when the upstream says it did one. */
export const secondFactorPolicies = ['trust-upstream', 'always-ask'] as const;
export type SecondFactorPolicy = (typeof secondFactorPolicies)[number];

/** `private_key_jwt`: a key pair Gatehouse makes for the upstream; its public half is served at /federation/jwks. */
export const upstreamClientAuthMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export type UpstreamClientAuth = (typeof upstreamClientAuthMethods)[number];

export const presetNames = ['google', 'microsoft', 'github'] as const;
export type PresetName = (typeof presetNames)[number];

/** https, or http on loopback (development and tests; the service refuses it unless configured). */
export const upstreamUrlSchema = z
  .string()
  .max(2000)
  .refine((value) => {
    try {
      const url = new URL(value);
      if (url.hash || url.username || url.password) return false;
      return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
    } catch {
      return false;
    }
  }, 'must be an https URL (http only on loopback), without fragment or credentials');

const claimName = z.string().min(1).max(100).regex(/^[A-Za-z0-9_:.\-/]+$/, 'claim names hold letters, digits and _ : . - /');

/** Where each fact about the user is read from in the upstream's claims (ID token, then userinfo). */
export const claimMappingSchema = z.strictObject({
  subject: claimName.default('sub'),
  email: claimName.default('email'),
  /** Absent or not `true` in the claims: the email is treated as unverified. */
  emailVerified: claimName.default('email_verified'),
  name: claimName.default('name'),
  /** Only the names are kept, on the link: RBAC (another issue) decides what they grant. */
  groups: claimName.optional(),
});
export type ClaimMapping = z.output<typeof claimMappingSchema>;

/** OAuth 2.0 without OpenID Connect (GitHub): the endpoints, written out. */
export const oauthEndpointsSchema = z.strictObject({
  authorization: upstreamUrlSchema,
  token: upstreamUrlSchema,
  userinfo: upstreamUrlSchema,
  /** GitHub's list of the user's addresses with their `verified` flag (the user object's email is not verified). */
  emails: upstreamUrlSchema.optional(),
});
export type OAuthEndpoints = z.output<typeof oauthEndpointsSchema>;

const domainSchema = z.string().trim().toLowerCase().min(3).max(253).regex(/^(?!-)[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'a domain name such as example.com');

export const upstreamNameSchema = z.string().trim().min(2).max(40).regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes');

const base = {
  name: upstreamNameSchema,
  displayName: z.string().trim().min(1).max(80).optional(),
  clientId: z.string().min(1).max(500),
  clientSecret: z.string().min(1).max(2000).optional(),
  clientAuth: z.enum(upstreamClientAuthMethods).optional(),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/)).max(30).optional(),
  claims: claimMappingSchema.partial().optional(),
  linking: z.enum(linkingPolicies).default('link-after-sign-in'),
  secondFactor: z.enum(secondFactorPolicies).default('always-ask'),
  /** Home-realm discovery: an email in one of these domains goes straight to this upstream. */
  domains: z.array(domainSchema).max(50).default([]),
  /** RP-initiated logout at Gatehouse also ends the upstream session (when it has an end_session_endpoint). */
  endUpstreamSession: z.boolean().default(false),
  enabled: z.boolean().default(true),
};

/** An upstream as an operator describes it: a preset, an OIDC issuer, or OAuth 2.0 endpoints. */
export const newUpstreamSchema = z.strictObject({
  ...base,
  preset: z.enum(presetNames).optional(),
  /** Microsoft Entra ID: the directory (tenant) id; `common` would accept every tenant's users as this one's. */
  tenant: z.string().regex(/^[0-9a-f-]{36}$|^[a-z0-9-]+\.onmicrosoft\.com$/i, 'a tenant id (GUID) or name.onmicrosoft.com').optional(),
  issuer: upstreamUrlSchema.optional(),
  endpoints: oauthEndpointsSchema.optional(),
});
export type NewUpstream = z.input<typeof newUpstreamSchema>;

/** What may change after creation (the issuer may not: links are keyed by it). */
export const upstreamChangesSchema = z.strictObject({
  displayName: base.displayName,
  clientId: base.clientId.optional(),
  clientSecret: base.clientSecret,
  clientAuth: base.clientAuth,
  scopes: base.scopes,
  claims: base.claims,
  linking: z.enum(linkingPolicies).optional(),
  secondFactor: z.enum(secondFactorPolicies).optional(),
  domains: z.array(domainSchema).max(50).optional(),
  endUpstreamSession: z.boolean().optional(),
  enabled: z.boolean().optional(),
});
export type UpstreamChanges = z.input<typeof upstreamChangesSchema>;

/** A complete definition: what the service stores. */
export interface UpstreamDefinition {
  protocol: 'oidc' | 'oauth2';
  issuer: string;
  endpoints: OAuthEndpoints | undefined;
  displayName: string;
  clientAuth: UpstreamClientAuth;
  scopes: string[];
  claims: ClaimMapping;
}

export class UpstreamInputError extends Error {
  override name = 'UpstreamInputError';
}

/** Fills in a preset, or checks that an explicit definition is complete. */
export function resolveDefinition(input: z.output<typeof newUpstreamSchema>): UpstreamDefinition {
  const claims = (defaults: Partial<ClaimMapping> = {}) => claimMappingSchema.parse({ ...defaults, ...input.claims });
  const clientAuth = input.clientAuth ?? (input.clientSecret ? 'client_secret_basic' : 'none');
  switch (input.preset) {
    case 'google':
      return { protocol: 'oidc', issuer: 'https://accounts.google.com', endpoints: undefined, displayName: input.displayName ?? 'Google', clientAuth, scopes: input.scopes ?? ['openid', 'email', 'profile'], claims: claims() };
    case 'microsoft': {
      if (!input.tenant) throw new UpstreamInputError('the microsoft preset needs --tenant (the directory id): a multi-tenant issuer would accept any organisation\'s users');
      // Entra's `email` claim is set by each tenant's administrators and is not verified (the "nOAuth"
      // class): it never counts as verified here; `xms_edov` is Entra's optional verified-domain flag.
      return { protocol: 'oidc', issuer: `https://login.microsoftonline.com/${input.tenant}/v2.0`, endpoints: undefined, displayName: input.displayName ?? 'Microsoft', clientAuth, scopes: input.scopes ?? ['openid', 'email', 'profile'], claims: claims({ subject: 'oid', emailVerified: 'xms_edov' }) };
    }
    case 'github':
      return {
        protocol: 'oauth2',
        issuer: 'https://github.com',
        endpoints: { authorization: 'https://github.com/login/oauth/authorize', token: 'https://github.com/login/oauth/access_token', userinfo: 'https://api.github.com/user', emails: 'https://api.github.com/user/emails' },
        displayName: input.displayName ?? 'GitHub',
        clientAuth: input.clientAuth ?? 'client_secret_post',
        scopes: input.scopes ?? ['read:user', 'user:email'],
        // The user object's numeric id is stable; its login can be renamed and re-used.
        claims: claims({ subject: 'id', emailVerified: 'email_verified' }),
      };
    case undefined:
      break;
  }
  if (input.endpoints) {
    if (!input.issuer) throw new UpstreamInputError('an OAuth 2.0 upstream needs an issuer identifier (--issuer) for its links');
    return { protocol: 'oauth2', issuer: input.issuer, endpoints: input.endpoints, displayName: input.displayName ?? input.name, clientAuth, scopes: input.scopes ?? [], claims: claims() };
  }
  if (!input.issuer) throw new UpstreamInputError('name a preset, an OpenID Connect issuer (discovery URL), or OAuth 2.0 endpoints');
  const issuer = input.issuer.replace(/\/\.well-known\/openid-configuration$/, '');
  return { protocol: 'oidc', issuer, endpoints: undefined, displayName: input.displayName ?? input.name, clientAuth, scopes: input.scopes ?? ['openid', 'email', 'profile'], claims: claims() };
}
