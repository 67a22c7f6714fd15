/**
 * Helpers for the admin API suites: admin service clients that get real
 * tokens from /token (client credentials, RFC 8707 resource), tokens minted
 * with the server's own active signing key for what the token endpoint cannot
 * be made to issue on demand (an expired token, a user's token with chosen
 * acr and auth_time), and a contract checker that validates every admin
 * response the suite sees against the served OpenAPI document.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import { importJWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';

import { operator } from '../../../src/audit/events.js';
import { adminAudience, type AdminScope } from '../../../src/resources/admin-audience.js';
import type { TestGatehouse } from '../../support/gatehouse.js';

export interface AdminAnswer {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

type Json = Record<string, unknown>;

/** Checks (status, body) of each answer against the document; remembers which operations were seen. */
export function createContract(document: Json) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const components = (document.components as { schemas: Record<string, Json> }).schemas;
  ajv.addSchema({ $id: 'doc', components: { schemas: components } } as Json);
  const paths = document.paths as Record<string, Record<string, { operationId: string; responses: Record<string, { content?: Record<string, { schema: Json }> }> }>>;
  const templates = Object.keys(paths).map((template) => ({ template, pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));
  const seen = new Set<string>();
  const rewrite = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"doc#/components/schemas/'));

  return {
    seen,
    check(method: string, path: string, answer: AdminAnswer): void {
      const relative = path.replace(/^\/admin\/v1/, '').split('?')[0]!;
      const found = templates.find((t) => t.pattern.test(relative) && paths[t.template]![method.toLowerCase()]);
      if (!found) throw new Error(`no documented operation for ${method} ${relative}`);
      const op = paths[found.template]![method.toLowerCase()]!;
      seen.add(op.operationId);
      const response = op.responses[String(answer.status)];
      if (!response) throw new Error(`${op.operationId} answered ${answer.status}, which the document does not list`);
      const documented = Object.entries(response.content ?? {});
      if (documented.length === 0) {
        if (answer.text !== '') throw new Error(`${op.operationId} ${answer.status} has a body the document does not describe`);
        return;
      }
      const type = answer.headers.get('content-type') ?? '';
      // An operation may document several media types (the audit export: JSON lines or CSV); the answer must be one of them.
      const media = documented.find(([mediaType]) => type.startsWith(mediaType))?.[1];
      if (!media) throw new Error(`${op.operationId} ${answer.status}: content-type ${type}, documented ${documented.map(([t]) => t).join(' or ')}`);
      const validate = ajv.compile(rewrite(media.schema) as Json);
      if (!validate(answer.body)) throw new Error(`${op.operationId} ${answer.status}: body does not match the document: ${ajv.errorsText(validate.errors)}`);
    },
  };
}

export type Contract = ReturnType<typeof createContract>;

export function adminCaller(gh: TestGatehouse, contract: Contract | undefined) {
  return async function call(method: string, path: string, options: { token?: string | undefined; body?: unknown; headers?: Record<string, string> } = {}): Promise<AdminAnswer> {
    const response = await fetch(`${gh.issuer}/admin/v1${path}`, {
      method,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    const type = response.headers.get('content-type') ?? '';
    const answer = { status: response.status, headers: response.headers, text, body: text && /^application\/([\w.-]+\+)?json(;|$)/.test(type) ? (JSON.parse(text) as unknown) : text };
    contract?.check(method, `/admin/v1${path}`, answer);
    return answer;
  };
}

/** A service client the operator gave admin scopes, and a real token from /token. */
export async function adminServiceClient(gh: TestGatehouse, scopes: readonly AdminScope[]) {
  const { client, clientSecret } = await gh.app.services.clients.create(operator, { type: 'service', name: `admin ${scopes.length} scopes`, scope: scopes.join(' ') });
  const rp = await oidc.discovery(new URL(gh.issuer), client.clientId, undefined, oidc.ClientSecretBasic(clientSecret!), { execute: [oidc.allowInsecureRequests] });
  return {
    clientId: client.clientId,
    clientSecret: clientSecret!,
    async token(scope: readonly string[] = scopes): Promise<string> {
      return (await oidc.clientCredentialsGrant(rp, { resource: adminAudience, scope: scope.join(' ') })).access_token;
    },
  };
}

/** A JWT access token signed with the server's active ES256 key, shaped as the provider shapes them (RFC 9068). */
export async function mintToken(gh: TestGatehouse, claims: Json, options: { expiresIn?: number; audience?: string } = {}): Promise<string> {
  const keys = await gh.app.services.keystore.load();
  const jwk = keys.jwks.keys.find((k) => k.alg === 'ES256' && !('key_ops' in k))!;
  const key = await importJWK(jwk, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: Math.random().toString(36).slice(2), ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: jwk.kid })
    .setIssuer(gh.issuer)
    .setAudience(options.audience ?? adminAudience)
    .setIssuedAt(now - 10)
    .setExpirationTime(now + (options.expiresIn ?? 300))
    .sign(key);
}

/** Values that look like credentials: long random base64url, PEM blocks, argon2 hashes, sealed blobs, JWTs. */
export function secretLookingValues(body: unknown, allowedKeys: ReadonlySet<string>): string[] {
  const found: string[] = [];
  const visit = (value: unknown, key: string | undefined): void => {
    if (Array.isArray(value)) return value.forEach((v) => visit(v, key));
    if (value && typeof value === 'object') return Object.entries(value).forEach(([k, v]) => visit(v, k));
    if (typeof value !== 'string' || (key !== undefined && allowedKeys.has(key))) return;
    if (/\$argon2|-----BEGIN|^eyJ[\w-]+\.eyJ|"d":|^v\d+\./.test(value) || /^(?:password|secret|client_secret|ciphertext|private_key|d|.*_hash|.*_ciphertext)$/i.test(key ?? '')) found.push(`${key}=${value.slice(0, 20)}…`);
  };
  visit(body, undefined);
  return found;
}
