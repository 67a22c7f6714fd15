/**
 * The admin API's resource servers carry their access control (issue 16 §3:
 * the console's "RBAC flag"): create with rbac off, read it back, turn it on
 * with PATCH under If-Match (the ETag moves, so the old one is stale), and a
 * bad value is a 400 naming the field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminServiceClient } from '../admin/helpers.js';

describe('resource servers\' access control through the admin API', () => {
  let gh: TestGatehouse;
  let token: string;
  beforeAll(async () => {
    gh = await startTestGatehouse();
    token = await (await adminServiceClient(gh, ['admin:resources.read', 'admin:resources.write'])).token();
  });
  afterAll(() => gh?.close());

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${gh.issuer}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, etag: response.headers.get('etag'), body: (await response.json()) as Record<string, unknown> };
  };

  it('creates with rbac off, turns it on with If-Match, and refuses the stale ETag and a bad value', async () => {
    const audience = 'https://reports.example.test';
    const created = await call('POST', '/resource-servers', { audience, name: 'Reports', scopes: ['reports:read'], access_token_ttl: 300, rbac: false, token_claims: ['roles'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ rbac: false, unheld_scopes: 'drop', token_claims: ['roles'] });
    expect((await gh.app.services.resources.find(audience))?.rbac).toBe(false);
    const path = `/resource-servers/${encodeURIComponent(audience)}`;
    const read = await call('GET', path);
    const changed = await call('PATCH', path, { rbac: true, unheld_scopes: 'refuse', scopes: ['reports:read', 'reports:write'] }, { 'if-match': read.etag! });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ rbac: true, unheld_scopes: 'refuse', scopes: ['reports:read', 'reports:write'] });
    expect(changed.etag).not.toBe(read.etag);
    expect((await gh.app.services.resources.find(audience))).toMatchObject({ rbac: true, unheldScopes: 'refuse' });
    expect((await call('PATCH', path, { rbac: false }, { 'if-match': read.etag! })).status).toBe(412);
    expect((await gh.app.services.resources.find(audience))?.rbac).toBe(true);
    const bad = await call('PATCH', path, { rbac: 'yes' }, { 'if-match': changed.etag! });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual(['body.rbac']);
    await gh.app.audit.flush();
    const events = await gh.app.db.query<{ type: string }>("SELECT type FROM audit_events WHERE subject = $1 ORDER BY seq", [audience]);
    expect(events.rows.map((r) => r.type)).toEqual(['resource.created', 'resource.updated', 'resource.access_control_changed']);
  });
});
