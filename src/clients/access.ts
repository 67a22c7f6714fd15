/**
 * What an operator lets a client do beyond its protocol metadata: introspect
 * the tokens of named resource servers (RFC 7662 §2.1 leaves who may
 * introspect what to the authorization server), and the resource server its
 * token requests are for when they name none (RFC 8707 §2: "the authorization
 * server MAY use a default resource"). Kept in the clients row, not in the
 * metadata a registering client sends, so no client can grant either to itself.
 */
import { z } from 'zod';

/** Introspects every token: an API gateway in front of many resource servers. */
export const everyAudience = '*';

export interface ClientAccess {
  /** Audiences whose tokens the client may introspect, or [`*`]. */
  introspects: readonly string[];
  /** The resource server a token request without `resource` is for; null: none (an opaque token). */
  defaultResource: string | null;
}

export const noAccess: ClientAccess = { introspects: [], defaultResource: null };

const audience = z.url().max(2000);

export const clientAccessSchema = z
  .object({
    introspects: z.array(z.union([z.literal(everyAudience), audience])).max(100).optional(),
    defaultResource: audience.nullable().optional(),
  })
  .strict()
  .refine((a) => !a.introspects?.includes(everyAudience) || a.introspects.length === 1, { message: '`*` (every audience) stands alone', path: ['introspects'] });

export type ClientAccessChange = z.input<typeof clientAccessSchema>;

/** The audiences a token is for, whatever shape `aud` has (RFC 7519 §4.1.3: a string or an array). */
export function audiencesOf(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

/** Whether a client with this access may learn about a token for these audiences. */
export function mayIntrospectAudiences(access: ClientAccess, audiences: readonly string[]): boolean {
  if (access.introspects.includes(everyAudience)) return true;
  return audiences.some((a) => access.introspects.includes(a));
}
