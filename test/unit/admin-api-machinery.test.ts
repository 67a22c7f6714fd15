/**
 * The admin API's machinery without a database: its retirement (docs/admin-api.md, versioning
 * policy): an operation marked `deprecated` in the operation table answers
 * with `Deprecation` (RFC 9745 §2: an sf-date) and `Sunset` (RFC 8594 §3: an
 * HTTP-date) on every answer, refusals included, with `Link` rel="deprecation"
 * and rel="sunset"; the OpenAPI document marks it `deprecated: true` and
 * still validates as OpenAPI 3.1. Operations not marked carry none of it.
 * No database: the router over a plain koa app, with a stub token verifier.
 * Also: the generated reference in docs/admin-api.md is current.
 */
import type { AddressInfo } from 'node:net';

import { validate } from '@readme/openapi-parser';
import Koa from 'koa';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

import { noAudit } from '../../src/audit/events.js';
import { AdminProblem } from '../../src/admin/problem.js';
import { openApiDocument } from '../../src/admin/openapi.js';
import { operation } from '../../src/admin/operation.js';
import { adminRouter, deprecationHeaders } from '../../src/admin/router.js';
import type { IdempotencyStore } from '../../src/artifacts/idempotency-store.js';

const since = new Date('2026-07-01T00:00:00Z');
const sunset = new Date('2027-01-01T00:00:00Z');
const link = 'https://gatehouse.example/docs/admin-api#versioning-policy';

const operations = [
  operation({
    id: 'oldThing', method: 'GET', path: '/old-things', tag: 'examples', scope: 'admin:users.read', summary: 'The old way', deprecated: { since, sunset, link },
    responses: { 200: { description: 'Things.', schema: z.strictObject({ items: z.array(z.string()) }) } },
    async handle() {
      return { status: 200, body: { items: ['a'] } };
    },
  }),
  operation({
    id: 'softlyOld', method: 'GET', path: '/softly-old', tag: 'examples', scope: 'admin:users.read', summary: 'Deprecated, no date to stop yet', deprecated: { since },
    responses: { 204: { description: 'Nothing.' } },
    async handle() {
      return { status: 204 };
    },
  }),
  operation({
    id: 'newThing', method: 'GET', path: '/new-things', tag: 'examples', scope: 'admin:users.read', summary: 'The new way',
    responses: { 200: { description: 'Things.', schema: z.strictObject({ items: z.array(z.string()) }) } },
    async handle() {
      return { status: 200, body: { items: ['b'] } };
    },
  }),
];

const unusedStore: IdempotencyStore = {
  begin: () => Promise.reject(new Error('not used')),
  complete: () => Promise.reject(new Error('not used')),
  release: () => Promise.resolve(),
  deleteExpired: () => Promise.resolve(0),
};

describe('Deprecation and Sunset on operations marked deprecated', () => {
  let base: string;
  let server: ReturnType<Koa['listen']>;

  beforeAll(async () => {
    const app = new Koa();
    app.use(
      adminRouter({
        operations,
        async verify(authorization) {
          if (authorization !== 'Bearer good') throw new AdminProblem(401, 'No valid token.', { challenge: 'Bearer realm="gatehouse-admin"' });
          return { actor: { kind: 'admin', clientId: 'svc' }, scopes: new Set(['admin:users.read']), user: undefined, bound: false };
        },
        certificate: () => undefined,
        serverUrl: 'http://127.0.0.1/admin/v1',
        audit: noAudit,
        log: pino({ level: 'silent' }),
        bodyLimit: 1024,
        publicRoutes: {},
        idempotency: { store: unusedStore, ttlSeconds: 60 },
        findAccount: async () => undefined,
        heldAdminScopes: async () => new Set<string>(),
        maxAuthAgeSeconds: 300,
      }),
    );
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/v1`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('answers with Deprecation (sf-date), Sunset (HTTP-date) and their links, refusals included', async () => {
    for (const authorization of ['Bearer good', 'Bearer bad']) {
      const answer = await fetch(`${base}/old-things`, { headers: { authorization } });
      expect(answer.status).toBe(authorization === 'Bearer good' ? 200 : 401);
      expect(answer.headers.get('deprecation')).toBe(`@${since.getTime() / 1000}`);
      expect(answer.headers.get('sunset')).toBe('Fri, 01 Jan 2027 00:00:00 GMT');
      expect(answer.headers.get('link')).toBe(`<${link}>; rel="deprecation"; type="text/html", <${link}>; rel="sunset"; type="text/html"`);
    }
    const soft = await fetch(`${base}/softly-old`, { headers: { authorization: 'Bearer good' } });
    expect(soft.status).toBe(204);
    expect(soft.headers.get('deprecation')).toMatch(/^@\d+$/);
    expect(soft.headers.get('sunset')).toBeNull();
    expect(soft.headers.get('link')).toBeNull();
  });

  it('operations not marked carry none of it', async () => {
    const answer = await fetch(`${base}/new-things`, { headers: { authorization: 'Bearer good' } });
    expect(answer.status).toBe(200);
    for (const name of ['deprecation', 'sunset', 'link']) expect(answer.headers.get(name)).toBeNull();
  });

  it('the OpenAPI document marks deprecated operations and stays valid OpenAPI 3.1', async () => {
    const document = openApiDocument(operations, 'https://id.example.test') as { paths: Record<string, { get: { deprecated?: boolean; 'x-sunset'?: string } }> };
    expect(document.paths['/old-things']!.get.deprecated).toBe(true);
    expect(document.paths['/old-things']!.get['x-sunset']).toBe(sunset.toISOString());
    expect(document.paths['/softly-old']!.get.deprecated).toBe(true);
    expect(document.paths['/new-things']!.get.deprecated).toBeUndefined();
    const result = await validate(structuredClone(document) as never);
    expect(result.valid, JSON.stringify(result)).toBe(true);
  });

  it('the sf-date is whole seconds since the epoch', () => {
    expect(deprecationHeaders({ since: new Date('2026-07-01T00:00:00.900Z') }).Deprecation).toBe('@1782864000');
  });
});

describe('the generated API reference', () => {
  it('docs/admin-api.md holds the reference of every operation as generated now (run `npm run docs:admin-api`)', async () => {
    const { readFile } = await import('node:fs/promises');
    const { referenceEnd, generatedReference, referenceStart } = await import('../../src/admin/reference-doc.js');
    const { adminOperations } = await import('../../src/admin/index.js');
    const markdown = await readFile(new URL('../../docs/admin-api.md', import.meta.url), 'utf8');
    const section = markdown.slice(markdown.indexOf(referenceStart) + referenceStart.length, markdown.indexOf(referenceEnd)).trim();
    expect(section).toBe(generatedReference());
    for (const op of adminOperations({} as never, {} as never, 'https://id.example.com')) expect(section, op.id).toContain(`| \`${op.id}\` | \`${op.method} ${op.path}\` | \`${op.scope}\` |`);
  });
});
