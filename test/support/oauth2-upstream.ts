/**
 * A GitHub-shaped OAuth 2.0 provider on loopback (not OpenID Connect): an
 * authorize endpoint that answers for the user the test names, a token
 * endpoint that checks the client's Basic credentials, the code and its PKCE
 * verifier, a `/user` profile whose numeric `id` is the subject and whose
 * `email` is the public, unverified one, and `/user/emails` with the verified
 * flags. GitHub itself is outside this machine; this stands in for it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OAuth2User {
  id: number;
  login: string;
  name?: string;
  /** The public profile address (GitHub never says it is verified). */
  email?: string | null;
  /** GitHub's /user/emails list. */
  emails?: Array<{ email: string; primary: boolean; verified: boolean }>;
}

export interface OAuth2Upstream {
  readonly origin: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The user the next authorization answers for. */
  next(user: OAuth2User): void;
  /** The query of every authorization request, oldest first. */
  readonly authorizations: URLSearchParams[];
  /** Token requests refused (wrong client, code, or verifier). */
  readonly refusedTokenRequests: string[];
  close(): Promise<void>;
}

export async function startOAuth2Upstream(): Promise<OAuth2Upstream> {
  const clientId = `gh-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(16).toString('hex');
  const authorizations: URLSearchParams[] = [];
  const refused: string[] = [];
  const codes = new Map<string, { user: OAuth2User; challenge: string; redirectUri: string }>();
  const tokens = new Map<string, OAuth2User>();
  let pending: OAuth2User | undefined;

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/login/oauth/authorize') {
      authorizations.push(url.searchParams);
      const user = pending;
      pending = undefined;
      const redirectUri = url.searchParams.get('redirect_uri')!;
      if (!user || url.searchParams.get('client_id') !== clientId || url.searchParams.get('code_challenge_method') !== 'S256') return json(400, { error: 'unexpected authorization request' });
      const code = randomBytes(16).toString('hex');
      codes.set(code, { user, challenge: url.searchParams.get('code_challenge')!, redirectUri });
      const back = new URL(redirectUri);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state')!);
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        // RFC 6749 §2.3.1: both halves are form-urlencoded before Basic encoding; decode each.
        const [id, secret] = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /i, ''), 'base64').toString().split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        const why = id !== clientId || secret !== clientSecret ? 'client' : !grant ? 'code' : createHash('sha256').update(verifier).digest('base64url') !== grant.challenge ? 'verifier' : form.get('redirect_uri') !== grant.redirectUri ? 'redirect_uri' : undefined;
        if (why) {
          refused.push(why);
          return json(400, { error: 'bad_verification_code' });
        }
        const token = randomBytes(16).toString('hex');
        tokens.set(token, grant!.user);
        json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
      });
      return;
    }
    const user = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /i, ''));
    if (!user) return json(401, { message: 'Bad credentials' });
    if (url.pathname === '/user') return json(200, { id: user.id, login: user.login, name: user.name ?? null, email: user.email ?? null });
    if (url.pathname === '/user/emails') return json(200, user.emails ?? []);
    json(404, { message: 'Not Found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    clientId,
    clientSecret,
    next: (user) => void (pending = user),
    authorizations,
    refusedTokenRequests: refused,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
