import { z } from 'zod';

/** RFC 6749 §3.3 scope tokens. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, 'a scope is a scope token (RFC 6749 §3.3)');
export const cidrSchema = z.union([z.cidrv4(), z.cidrv6()]);
/** Longest a key lives: a key that never expires is one nobody remembers to rotate. */
export const maxApiKeyLifetimeSeconds = 2 * 366 * 86_400;

export const apiKeyOwnerSchema = z.object({ kind: z.enum(['client', 'user']), id: z.string().min(1).max(200) }).strict();

export const newApiKeySchema = z
  .object({
    owner: apiKeyOwnerSchema,
    name: z.string().trim().min(1).max(200),
    scopes: z.array(scopeToken).max(100).default([]),
    expiresInSeconds: z.number().int().min(60).max(maxApiKeyLifetimeSeconds),
    allowedCidrs: z.array(cidrSchema).max(100).default([]),
    /** The key's own budget: exchanges per window, counted on every node. */
    rateLimit: z.object({ count: z.number().int().min(1).max(1_000_000), windowSeconds: z.number().int().min(1).max(86_400) }).strict().default({ count: 60, windowSeconds: 60 }),
  })
  .strict();

export type NewApiKey = z.input<typeof newApiKeySchema>;

export const rotationSchema = z
  .object({
    /** How long the old key keeps working after the new one is made (DESIGN invariant 3). */
    overlapSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400),
  })
  .strict();

export type Rotation = z.input<typeof rotationSchema>;
