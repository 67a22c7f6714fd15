/**
 * `acr` and `auth_time` in user access tokens for the admin API, which needs
 * them to demand a recent second factor on writes (issue 14, RFC 9470 §3).
 * The library's JWT access tokens carry neither (node_modules/oidc-provider/
 * lib/models/formats/jwt.js); the code or refresh token being exchanged holds
 * both (lib/models/authorization_code.js, refresh_token.js), so they are
 * copied from it through `extraTokenClaims`. Only tokens for the admin
 * audience get them: other APIs' tokens stay as they were.
 */
import { adminAudience } from '../resources/admin-audience.js';

interface SignInFacts {
  acr?: string;
  authTime?: number;
}

export async function adminTokenClaims(ctx: unknown, token: unknown): Promise<Record<string, unknown> | undefined> {
  const t = token as { kind?: string; accountId?: string; resourceServer?: { audience?: string } };
  if (t.kind !== 'AccessToken' || !t.accountId || t.resourceServer?.audience !== adminAudience) return undefined;
  const entities = (ctx as { oidc?: { entities?: { AuthorizationCode?: SignInFacts; RefreshToken?: SignInFacts } } }).oidc?.entities;
  const source = entities?.AuthorizationCode ?? entities?.RefreshToken;
  if (!source) return undefined;
  return { ...(source.acr ? { acr: source.acr } : {}), ...(source.authTime ? { auth_time: source.authTime } : {}) };
}
