import { z } from 'zod';

import { isLoopbackHost } from '../config.js';

/**
 * Redirect URIs: https; http only on loopback (RFC 8252 §7.3); private-use
 * schemes with a dot (RFC 8252 §7.1) for native apps; never a fragment
 * (RFC 6749 §3.1.2) or a wildcard.
 */
export const redirectUriSchema = z
  .string()
  .max(2000)
  .refine((value) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return false;
    }
    if (url.hash || value.includes('#') || value.includes('*')) return false;
    if (url.protocol === 'https:') return true;
    if (url.protocol === 'http:') return isLoopbackHost(url.hostname);
    return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol);
  }, 'redirect URIs must be https, loopback http or a private-use scheme such as com.example.app:/cb, without fragment or wildcard');

export const clientTypes = ['confidential', 'public', 'service'] as const;
export type ClientType = (typeof clientTypes)[number];

export const newClientSchema = z
  .object({
    type: z.enum(clientTypes),
    name: z.string().trim().min(1).max(200),
    redirectUris: z.array(redirectUriSchema).max(20).default([]),
    postLogoutRedirectUris: z.array(redirectUriSchema).max(20).default([]),
    firstParty: z.boolean().default(false),
    scope: z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'scope must be space-separated scope tokens').max(1000).optional(),
    authMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    idTokenSigningAlg: z.enum(['ES256', 'RS256', 'PS256', 'EdDSA']).default('ES256'),
  })
  .superRefine((value, ctx) => {
    if (value.type !== 'service' && value.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: `a ${value.type} client needs at least one redirect URI` });
    }
    if (value.type === 'service' && value.redirectUris.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris'], message: 'a service (client credentials) client has no redirect URIs' });
    }
  });

export type NewClient = z.input<typeof newClientSchema>;
