/**
 * The /admin/v1 pipeline, as a list you can read top to bottom (STYLE:
 * panva's actions/token.js): match → verify the bearer token → authorise
 * (scope, admin marker, step-up) → parse params, query and body strictly →
 * handler (a service call with the actor) → answer. Every error becomes RFC
 * 9457 problem details here; the detail of an unexpected one goes to the log
 * with the request id, never to the caller.
 */
import type { X509Certificate } from 'node:crypto';

import type { Context, Next } from 'koa';
import type { Logger } from 'pino';
import { z } from 'zod';

import { AccountError, PasswordRefusedError } from '../accounts/accounts.js';
import { ApiKeyError } from '../api-keys/api-keys.js';
import { recordAs, type Audit } from '../audit/events.js';
import { ClientError } from '../clients/clients.js';
import { KeystoreError } from '../keys/keystore.js';
import { RbacError } from '../rbac/model.js';
import { ResourceError } from '../resources/resources.js';
import { ExchangePolicyError } from '../token-exchange/policies.js';
import { authorise, type AuthoriseDeps } from './authorise.js';
import type { BearerVerifier } from './bearer.js';
import { idempotencyKeyHash, idempotencyProblems, parseIdempotencyKey, requestFingerprint, storable, type IdempotencyStore } from './idempotency.js';
import type { Operation, Reply } from './operation.js';
import { AdminProblem, problemTypes, sendProblem } from './problem.js';
import { RegistrationAdminError } from '../registration/errors.js';

export const adminPrefix = '/admin/v1';

interface CompiledRoute {
  op: Operation;
  pattern: RegExp;
  names: string[];
}

function compile(op: Operation): CompiledRoute {
  const names: string[] = [];
  const source = op.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_m, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { op, pattern: new RegExp(`^${source}$`), names };
}

/** Zod issues as the field names they concern: what a 400 tells the caller (never the value sent). */
function fieldsOf(error: z.ZodError, where: string): string[] {
  const fields = new Set<string>();
  for (const issue of error.issues) {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') for (const key of issue.keys) fields.add(`${where}${base ? `${base}.` : ''}${key}`);
    else fields.add(`${where}${base}`);
  }
  return [...fields];
}

function parse<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.output<T> | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const unknown = result.error.issues.some((i) => i.code === 'unrecognized_keys');
  throw new AdminProblem(400, unknown ? 'The request names fields this operation does not accept (unknown or read-only).' : 'The request has invalid fields.', {
    type: problemTypes.validation,
    fields: fieldsOf(result.error, where),
  });
}

async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const length = ctx.request.length;
  if (!length && !ctx.get('Transfer-Encoding')) return undefined;
  if (!ctx.is('application/json')) throw new AdminProblem(415, 'Send the request body as application/json.');
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > limit) throw new AdminProblem(413, 'The request body is too large.');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks, received).toString('utf8');
  // No NUL anywhere (DESIGN invariant 6): PostgreSQL text cannot hold it and it hides truncation.
  if (text.includes('\u0000')) throw new AdminProblem(400, 'The request body holds a NUL character.', { type: problemTypes.validation });
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AdminProblem(400, 'The request body is not valid JSON.', { type: problemTypes.validation });
  }
}

function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new AdminProblem(400, 'A path parameter is not valid percent-encoding.', { type: problemTypes.validation });
  }
}

/** Service refusals carry sentences written for operators (the CLI prints them): safe to show. */
function serviceProblem(error: unknown): AdminProblem | undefined {
  if (error instanceof AdminProblem) return error;
  // A password the rules refuse is a bad field, not a conflict: the message says which rule.
  if (error instanceof PasswordRefusedError) return new AdminProblem(400, error.message, { type: problemTypes.validation, fields: ['body.password'] });
  if (error instanceof AccountError || error instanceof ClientError || error instanceof KeystoreError || error instanceof ResourceError || error instanceof RegistrationAdminError) {
    // `no such …` (accounts, clients, resources) and `no key <kid>` (keystore) name a missing object.
    const missing = /^no (such|key) /.test(error.message);
    return new AdminProblem(missing ? 404 : 409, error.message, { type: missing ? problemTypes.notFound : problemTypes.conflict });
  }
  if (error instanceof ApiKeyError || error instanceof ExchangePolicyError || error instanceof RbacError) {
    const status = error.kind === 'not_found' ? 404 : error.kind === 'conflict' ? 409 : 400;
    return new AdminProblem(status, error.message, { type: status === 404 ? problemTypes.notFound : status === 409 ? problemTypes.conflict : problemTypes.validation });
  }
  if (error instanceof z.ZodError) return new AdminProblem(400, 'The request has invalid fields.', { type: problemTypes.validation, fields: fieldsOf(error, 'body.') });
  return undefined;
}

export interface AdminRouterDeps extends AuthoriseDeps {
  operations: readonly Operation[];
  verify: BearerVerifier;
  certificate(ctx: Context): X509Certificate | undefined;
  audit: Audit;
  log: Logger;
  bodyLimit: number;
  /** Served without a token: the OpenAPI document (public by design, like discovery). */
  publicRoutes: Record<string, (ctx: Context) => void>;
  /** Where creates keep their Idempotency-Key responses, and for how long. */
  idempotency: { store: IdempotencyStore; ttlSeconds: number };
  /** The API's advertised base URL (the OpenAPI document's server): DPoP proofs name it in `htu`. */
  serverUrl: string;
}

/** RFC 9745 `Deprecation` (an sf-date), RFC 8594 `Sunset` (an HTTP-date) and their links. */
export function deprecationHeaders(deprecated: NonNullable<Operation['deprecated']>): Record<string, string> {
  const links = [
    ...(deprecated.link ? [`<${deprecated.link}>; rel="deprecation"; type="text/html"`] : []),
    ...(deprecated.sunset && deprecated.link ? [`<${deprecated.link}>; rel="sunset"; type="text/html"`] : []),
  ];
  return {
    Deprecation: `@${Math.floor(deprecated.since.getTime() / 1000)}`,
    ...(deprecated.sunset ? { Sunset: deprecated.sunset.toUTCString() } : {}),
    ...(links.length ? { Link: links.join(', ') } : {}),
  };
}

function answer(ctx: Context, reply: Reply): void {
  ctx.status = reply.status;
  if (reply.etag) ctx.set('ETag', reply.etag);
  for (const [name, value] of Object.entries(reply.headers ?? {})) ctx.set(name, value);
  if (reply.body !== undefined) ctx.body = reply.body;
}

export function adminRouter(deps: AdminRouterDeps) {
  const routes = deps.operations.map(compile);

  function match(method: string, path: string): { route: CompiledRoute; params: Record<string, string> } | 'wrong-method' | undefined {
    let pathMatched = false;
    for (const route of routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.op.method !== method) continue;
      return { route, params: Object.fromEntries(route.names.map((n, i) => [n, decodeParam(m[i + 1]!)])) };
    }
    return pathMatched ? 'wrong-method' : undefined;
  }

  return async function adminMiddleware(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== adminPrefix && !ctx.path.startsWith(`${adminPrefix}/`)) return next();
    const path = ctx.path.slice(adminPrefix.length) || '/';
    ctx.set('Cache-Control', 'no-store');
    const requestId = String(ctx.state.requestId ?? '');
    let keyHash: Buffer | undefined;
    try {
      const publicRoute = deps.publicRoutes[path];
      if (publicRoute) {
        if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new AdminProblem(405, 'Only GET is served here.', { headers: { Allow: 'GET, HEAD' } });
        (ctx as { _matchedRoute?: string })._matchedRoute = `admin${path}`;
        publicRoute(ctx);
        return;
      }
      const found = match(ctx.method, path);
      if (found === 'wrong-method') {
        const allow = routes.filter((r) => r.pattern.test(path)).map((r) => r.op.method);
        throw new AdminProblem(405, 'This method is not allowed on this resource.', { headers: { Allow: allow.join(', ') } });
      }
      if (!found) throw new AdminProblem(404, 'There is no such admin API resource.');
      const { op } = found.route;
      (ctx as { _matchedRoute?: string })._matchedRoute = `admin.${op.id}`;
      // On every answer of a deprecated operation, refusals included: a caller learns of it before it matters.
      if (op.deprecated) for (const [name, value] of Object.entries(deprecationHeaders(op.deprecated))) ctx.set(name, value);
      const certificate = deps.certificate(ctx);
      const caller = await deps.verify(ctx.get('Authorization') || undefined, certificate, { method: ctx.method, htu: `${deps.serverUrl}${path}`, dpop: ctx.get('DPoP') || undefined });
      await authorise(op, caller, deps);
      const params = parse(op.params, found.params, 'path.');
      const query = parse(op.query, { ...ctx.query }, 'query.');
      const raw = op.body ? await readJson(ctx, deps.bodyLimit) : undefined;
      const body = parse(op.body, raw ?? {}, 'body.');
      if (op.etag && !ctx.get('If-Match')) throw new AdminProblem(428, 'Send If-Match with the ETag of the representation you are changing.');
      const keyHeader = op.idempotent ? ctx.get('Idempotency-Key') : '';
      if (keyHeader) {
        keyHash = idempotencyKeyHash(caller, parseIdempotencyKey(keyHeader));
        const begun = await deps.idempotency.store.begin(keyHash, requestFingerprint(op.method, ctx.path, raw));
        if (begun.kind !== 'started') {
          keyHash = undefined;
          if (begun.kind === 'mismatch') throw idempotencyProblems.mismatch();
          if (begun.kind === 'pending') throw idempotencyProblems.pending();
          recordAs(deps.audit, caller.actor, { type: 'admin.call', subject: op.id, detail: { method: op.method, path: ctx.path, status: begun.response.status, replayed: true } });
          if (begun.withheld) throw idempotencyProblems.withheld(begun.response.headers.Location);
          answer(ctx, { ...begun.response, headers: { ...begun.response.headers, 'Idempotency-Replayed': 'true' } });
          return;
        }
      }
      const reply = await op.handle({ params, query, body, caller, ifMatch: ctx.get('If-Match') || undefined, requestId, certificate });
      if (keyHash) {
        const headers: Record<string, string> = { ...(reply.headers ?? {}), ...(reply.etag ? { ETag: reply.etag } : {}) };
        const kept = storable({ status: reply.status, body: reply.body, headers }, op.secretFields ?? []);
        if (reply.status < 300) await deps.idempotency.store.complete(keyHash, kept.response, kept.withheld, deps.idempotency.ttlSeconds);
        else await deps.idempotency.store.release(keyHash);
        keyHash = undefined;
      }
      // Every call is audited (issue 14): writes by their service, with this actor; reads here, as admin.call.
      if (!op.audited) recordAs(deps.audit, caller.actor, { type: 'admin.call', subject: op.id, detail: { method: op.method, path: ctx.path, status: reply.status } });
      answer(ctx, reply);
    } catch (error) {
      // A failed first request gives its key back: the caller may retry with it.
      if (keyHash) await deps.idempotency.store.release(keyHash).catch((err: unknown) => deps.log.warn({ requestId, err }, 'releasing an idempotency key failed'));
      const problem = serviceProblem(error);
      if (problem) return sendProblem(ctx, problem);
      deps.log.error({ requestId, err: error, path: ctx.path }, 'admin API call failed');
      sendProblem(ctx, new AdminProblem(500, 'Something went wrong on our side; the request id finds the details in the log.'));
    }
  };
}
