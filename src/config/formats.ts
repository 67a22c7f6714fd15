/**
 * The value formats settings are written in (durations, budgets, address
 * lists, key sets…), each a zod schema from the variable's text to its typed
 * value. A new setting picks one of these, or adds one here.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';

import { parseDuration } from './duration.js';

/** `600`, `90s`, `15m`, `12h`, `30d` → seconds. */
export const duration = z.string().transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', message: 'expected a duration such as 600, 90s, 15m, 12h or 30d' });
    return z.NEVER;
  }
  return seconds;
});

export const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const boolean = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
export const text = z.string().min(1);
export const port = integer(0, 65535);

/** A count per window, written `10/5m`: rate-limit budgets and alert thresholds. */
export interface Threshold {
  count: number;
  windowSeconds: number;
}

function parseThreshold(value: string): Threshold | undefined {
  const match = /^(\d{1,9})\/(.+)$/.exec(value.trim());
  const windowSeconds = match ? parseDuration(match[2]!) : undefined;
  if (!match || !windowSeconds || Number(match[1]) < 1) return undefined;
  return { count: Number(match[1]), windowSeconds };
}

export const threshold = z.string().transform((value, ctx) => {
  const parsed = parseThreshold(value);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: 'expected COUNT/WINDOW such as 10/5m' });
    return z.NEVER;
  }
  return parsed;
});

/** A rate-limit budget per client IP and per client id; either may be `off`. */
export interface RateLimitBudget {
  ip: Threshold | undefined;
  client: Threshold | undefined;
}

export const budget = z.string().transform((value, ctx): RateLimitBudget => {
  const result: RateLimitBudget = { ip: undefined, client: undefined };
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, limit] = part.split('=', 2).map((p) => p.trim());
    const parsed = limit === 'off' ? undefined : parseThreshold(limit ?? '');
    if ((key !== 'ip' && key !== 'client') || (limit !== 'off' && !parsed)) {
      ctx.addIssue({ code: 'custom', message: 'expected ip=COUNT/WINDOW,client=COUNT/WINDOW (either may be `off`), e.g. ip=600/1m,client=300/1m' });
      return z.NEVER;
    }
    result[key] = parsed;
  }
  return result;
});

/** `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`: an address, optionally with a prefix length that fits its family. */
export function isCidr(value: string): boolean {
  const [address, prefix, extra] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

export const cidrList = z.string().transform((value, ctx) => {
  const entries = value.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.filter((e) => !isCidr(e));
  if (entries.length === 0 || bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `expected IP addresses or CIDR ranges${bad.length ? ` (unparseable: ${bad.join(', ')})` : ''}` });
    return z.NEVER;
  }
  return entries;
});

/** A comma-separated list drawn from `allowed`, without repeats. */
export function listOf<const T extends string>(allowed: readonly T[]) {
  return z.string().transform((value, ctx): T[] => {
    const items = [...new Set(value.split(',').map((a) => a.trim()).filter(Boolean))];
    const unknown = items.filter((a) => !(allowed as readonly string[]).includes(a));
    if (items.length === 0 || unknown.length > 0) {
      ctx.addIssue({ code: 'custom', message: `expected a list of ${allowed.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}` });
      return z.NEVER;
    }
    return items as T[];
  });
}

/** Public keys per trusted software-statement issuer (RFC 7591 §2.3): `{"<iss>": {"keys": [JWK, …]}}`. */
export type TrustedIssuerKeys = Record<string, { keys: Array<{ kty: string } & Record<string, unknown>> }>;

const publicJwk = z
  .looseObject({ kty: z.enum(['EC', 'RSA', 'OKP']) })
  .refine((jwk) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in jwk), 'keys must be public keys (a private member was found)');
const trustedIssuerKeys = z
  .record(z.string().min(1).max(500), z.object({ keys: z.array(publicJwk).min(1).max(50) }))
  .refine((issuers) => Object.keys(issuers).length > 0, 'name at least one issuer');

function parseIssuerKeys(value: string, ctx: z.RefinementCtx): TrustedIssuerKeys {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected JSON such as {"https://issuer.example": {"keys": [{"kty": "EC", …}]}}' });
    return z.NEVER;
  }
  const parsed = trustedIssuerKeys.safeParse(json);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ') });
    return z.NEVER;
  }
  return parsed.data as TrustedIssuerKeys;
}

export const issuerKeysInline = z.string().transform(parseIssuerKeys);
export const issuerKeysFile = z.string().transform((file, ctx) => {
  let json: string;
  try {
    json = readFileSync(path.resolve(file), 'utf8');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `cannot read ${file}: ${(error as Error).message}` });
    return z.NEVER;
  }
  return parseIssuerKeys(json, ctx);
});
