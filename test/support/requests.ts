/** Small HTTP helpers shared by the integration tests: Basic credentials, token requests, the rate-limit header, leak detection. */
export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export function tokenRequest(base: string, body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(body),
  });
}

/** `"token-client";q=5;w=60, "token-ip";q=9;w=60` → { 'token-client': { q: 5, w: 60 }, … } (RFC 9651 lists of strings with parameters). */
export function parseRateLimitField(value: string | null): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const member of (value ?? '').split(',').map((m) => m.trim()).filter(Boolean)) {
    const [name, ...params] = member.split(';');
    const match = /^"([a-z0-9-]+)"$/.exec(name!.trim());
    if (!match) throw new Error(`not a structured-field string item: ${member}`);
    out[match[1]!] = Object.fromEntries(params.map((p) => {
      const [k, v] = p.split('=');
      if (!/^[a-z]+$/.test(k!) || !/^\d+$/.test(v!)) throw new Error(`bad parameter ${p} in ${member}`);
      return [k!, Number(v)];
    }));
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Fails with a readable message if a body leaks internals: stack frames, paths, SQL, library names. */
export const internalDetail = /\bat [\w.<>]+ \(|node_modules|\/work\/|\/src\/|\.ts:\d|\.js:\d|TypeError|ReferenceError|SyntaxError|\bSELECT\b|\bINSERT\b|\bpg_|postgres|pglite|oidc-provider|\bkoa\b|nunjucks|zod|ZodError|stack/i;
