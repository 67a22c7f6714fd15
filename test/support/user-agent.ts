/**
 * A minimal cookie-keeping HTTP user agent for integration tests that drive
 * the real login and consent forms without a browser (the browser tests drive
 * the same pages in Chromium). It follows no redirect by itself: each step is
 * explicit so tests can assert on it.
 */
export interface Step {
  status: number;
  location: string | undefined;
  body: string;
  headers: Headers;
}

export class UserAgent {
  readonly cookies = new Map<string, string>();

  /** `headers` go with every request (a `user-agent` makes this a different browser). */
  constructor(private readonly defaultHeaders: Record<string, string> = {}) {}

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Step> {
    const headers: Record<string, string> = { ...this.defaultHeaders, ...init.headers };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const location = response.headers.get('location') ?? undefined;
    return { status: response.status, location: location ? new URL(location, url).href : undefined, body: await response.text(), headers: response.headers };
  }

  /** Follows redirects until one leaves `origin` (the RP callback) or a page is returned. */
  async follow(url: string, origin: string): Promise<{ step: Step; url: string }> {
    let current = url;
    for (let i = 0; i < 10; i += 1) {
      const step = await this.request(current);
      if (!step.location) return { step, url: current };
      if (!step.location.startsWith(origin)) return { step, url: step.location };
      current = step.location;
    }
    throw new Error('too many redirects');
  }
}

export function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no hidden field ${name} in page`);
  return match[1]!;
}

export function formAction(html: string, suffix: string): string {
  const match = new RegExp(`action="(/interaction/[^"]+/${suffix})"`).exec(html);
  if (!match) throw new Error(`no form posting to ${suffix}`);
  return match[1]!;
}

/**
 * Signs in through the real pages: authorization URL → login form → consent
 * (when shown) → the redirect back to the client. Returns the callback URL.
 */
export async function signInThroughPages(agent: UserAgent, issuer: string, authorizationUrl: string, credentials: { username: string; password: string }): Promise<string> {
  let { step, url } = await agent.follow(authorizationUrl, issuer);
  for (let i = 0; i < 4; i += 1) {
    if (!url.startsWith(issuer)) return url;
    if (step.status !== 200) throw new Error(`unexpected ${step.status} at ${url}: ${step.body.slice(0, 200)}`);
    const csrf = hiddenField(step.body, 'csrf');
    const isLogin = step.body.includes('/login"');
    const action = formAction(step.body, isLogin ? 'login' : 'confirm');
    const posted = await agent.request(new URL(action, issuer).href, {
      form: isLogin ? { csrf, login: credentials.username, password: credentials.password } : { csrf },
    });
    if (!posted.location) throw new Error(`form post answered ${posted.status}: ${posted.body.slice(0, 300)}`);
    ({ step, url } = posted.location.startsWith(issuer) ? await agent.follow(posted.location, issuer) : { step: posted, url: posted.location });
  }
  throw new Error('sign-in did not reach the client');
}
