/** Formats of the settings about what Gatehouse fetches on a client's say-so (metadata documents). */
import { isIP } from 'node:net';

import { z } from 'zod';

const hostPattern = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function commaList(value: string): string[] {
  return [...new Set(value.split(',').map((v) => v.trim()).filter(Boolean))];
}

/** `app.example.com,*.agents.example` → lower-cased patterns; `*.` matches subdomains only, never the bare domain. */
export const hostPatternList = z.string().transform((value, ctx) => {
  const items = commaList(value.toLowerCase());
  const bad = items.filter((item) => !hostPattern.test(item));
  if (items.length === 0 || bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `expected host names such as app.example.com or *.example.com${bad.length ? ` (not one: ${bad.join(', ')})` : ''}` });
    return z.NEVER;
  }
  return items;
});

/** Absolute URIs without a fragment (RFC 8707 §2), comma-separated; empty is an empty list. */
export const resourceIndicatorList = z.string().transform((value, ctx) => {
  const items = commaList(value);
  const bad = items.filter((item) => !URL.canParse(item) || item.includes('#'));
  if (bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `expected absolute URIs without a fragment (not one: ${bad.join(', ')})` });
    return z.NEVER;
  }
  return items;
});

/** `name=address,…`: a host name and the IP address it stands for. */
export const resolveOverrides = z.string().transform((value, ctx) => {
  const entries = new Map<string, string>();
  for (const item of commaList(value)) {
    const [name, address, ...rest] = item.split('=').map((v) => v.trim());
    if (!name || !address || rest.length > 0 || !hostPattern.test(name.toLowerCase()) || name.startsWith('*') || isIP(address) === 0) {
      ctx.addIssue({ code: 'custom', message: `expected name=address pairs such as cimd.test=127.0.0.1 (not one: ${item})` });
      return z.NEVER;
    }
    entries.set(name.toLowerCase(), address);
  }
  return entries;
});

/** Whether `host` (a URL's host name, lower case) is one the patterns allow. */
export function hostAllowed(patterns: readonly string[], host: string): boolean {
  return patterns.some((pattern) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern));
}
