/**
 * The console's per-minute roll-ups (issue 16) against a real Gatehouse:
 * counts exact after N real token requests and N failed client
 * authentications; two writers (two nodes) adding to the same minute at once
 * sum exactly; the retention sweep removes only old minutes; GET
 * /admin/v1/stats answers the series under its own scope and refuses bad
 * input with problem details.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { removeExpiredArtifacts } from '../../../src/artifacts/cleanup.js';
import { createLogger } from '../../../src/observability/logger.js';
import { createRollupStore } from '../../../src/rollups/store.js';
import { createRollups } from '../../../src/rollups/rollups.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminServiceClient } from '../admin/helpers.js';

interface Stats {
  range: string;
  step_seconds: number;
  buckets: string[];
  series: Array<{ metric: string; label: string; client_id: string; counts: number[]; total: number }>;
  totals: Record<string, number>;
  active_sessions: number;
}

describe('stats roll-ups', () => {
  let gh: TestGatehouse;
  let statsToken: string;

  beforeAll(async () => {
    // The interaction budget is tiny so this file can count rate-limited requests; nothing here signs in.
    gh = await startTestGatehouse({ env: { GATEHOUSE_RATE_LIMIT_INTERACTION: 'ip=2/1m,client=off', GATEHOUSE_STATS_FLUSH_INTERVAL: '1h' } });
    statsToken = await (await adminServiceClient(gh, ['admin:stats.read'])).token();
  });
  afterAll(() => gh?.close());

  const stats = async (query = '', token = statsToken) => {
    const response = await fetch(`${gh.issuer}/admin/v1/stats${query}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, type: response.headers.get('content-type'), body: (await response.json()) as Stats & { fields?: string[]; type?: string } };
  };
  const seriesOf = (s: Stats, metric: string, clientId?: string) => s.series.filter((x) => x.metric === metric && (clientId === undefined || x.client_id === clientId));

  it('counts exactly N client-credentials tokens and N invalid client authentications, by grant type and client', async () => {
    const { clientId, clientSecret } = await gh.createClient({ type: 'service', name: 'counted' });
    const rp = await oidc.discovery(new URL(gh.issuer), clientId, undefined, oidc.ClientSecretBasic(clientSecret!), { execute: [oidc.allowInsecureRequests] });
    const n = 7;
    for (let i = 0; i < n; i += 1) await oidc.clientCredentialsGrant(rp, {});
    const before = (await stats()).body.totals.client_auth_failed ?? 0;
    const failures = 3;
    for (let i = 0; i < failures; i += 1) {
      const response = await fetch(`${gh.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:wrong-secret`).toString('base64')}` },
        body: 'grant_type=client_credentials',
      });
      expect(response.status).toBe(401);
    }
    // Nothing is in the table until a flush: the token endpoint never waited on it.
    expect(seriesOf((await stats()).body, 'tokens_issued', clientId)).toEqual([]);
    await gh.app.services.rollups.flush();

    const { status, body } = await stats('?range=1h');
    expect(status).toBe(200);
    expect(body.step_seconds).toBe(60);
    expect(body.buckets).toHaveLength(60);
    const mine = seriesOf(body, 'tokens_issued', clientId);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ label: 'client_credentials', total: n });
    expect(mine[0]!.counts).toHaveLength(60);
    expect(mine[0]!.counts.reduce((a, b) => a + b, 0)).toBe(n);
    expect(body.totals.client_auth_failed! - before).toBe(failures);
    expect(seriesOf(body, 'client_auth_failed').every((s) => s.client_id === '')).toBe(true);

    for (const range of ['24h', '7d'] as const) {
      const wide = (await stats(`?range=${range}`)).body;
      expect(wide.buckets).toHaveLength(range === '24h' ? 144 : 168);
      expect(seriesOf(wide, 'tokens_issued', clientId)[0]?.total).toBe(n);
    }
  });

  it('counts rate-limited requests by class, sign-ins, lockouts and alerts', async () => {
    for (let i = 0; i < 5; i += 1) await fetch(`${gh.issuer}/interaction/none`);
    gh.app.services.audit.record({ type: 'login.success', outcome: 'success', actor: 'u1', subject: 'u1' });
    gh.app.services.audit.record({ type: 'login.failure', outcome: 'failure', actor: 'u1', subject: 'u1', detail: { reason: 'bad_password' } });
    gh.app.services.audit.record({ type: 'login.failure', outcome: 'failure', actor: 'u1', subject: 'u1', detail: { reason: 'bad_password' } });
    gh.app.services.audit.record({ type: 'login.locked', outcome: 'failure', actor: 'u1', subject: 'u1' });
    await gh.app.audit.flush();
    await gh.app.services.rollups.flush();
    const { body } = await stats();
    expect(seriesOf(body, 'rate_limited').find((s) => s.label === 'interaction')?.total).toBe(3);
    expect(body.totals.sign_ins_succeeded).toBe(1);
    expect(seriesOf(body, 'sign_ins_failed')).toEqual([expect.objectContaining({ label: 'bad_password', total: 2 })]);
    expect(body.totals.lockouts).toBe(1);
    // Every admin call raises the admin-action alert (docs/alerts.md): the stats reads above did.
    expect(seriesOf(body, 'alerts_raised').find((s) => s.label === 'admin_action')?.total).toBeGreaterThan(0);
    expect(body.active_sessions).toBe(0);
  });

  it('sums two nodes adding to the same minute at the same time', async () => {
    const log = createLogger('silent');
    const nodes = [0, 1].map(() => createRollups({ db: gh.app.db, log, flushIntervalSeconds: 3600, retentionSeconds: 86_400 }));
    const clientId = `two-nodes-${Date.now()}`;
    for (let round = 0; round < 5; round += 1) {
      nodes.forEach((node, i) => {
        for (let k = 0; k < 10 + i; k += 1) node.count('tokens_issued', 'client_credentials', clientId);
      });
      await Promise.all(nodes.map((node) => node.flush()));
    }
    await Promise.all(nodes.map((node) => node.close()));
    const mine = seriesOf((await stats()).body, 'tokens_issued', clientId);
    expect(mine[0]?.total).toBe(5 * (10 + 11));
  });

  it('keeps a failed flush\'s counts for the next one', async () => {
    const log = createLogger('silent');
    let fail = true;
    const db = { ...gh.app.db, query: ((...args: Parameters<typeof gh.app.db.query>) => (fail ? Promise.reject(new Error('down')) : gh.app.db.query(...args))) as typeof gh.app.db.query };
    const node = createRollups({ db, log, flushIntervalSeconds: 3600, retentionSeconds: 86_400 });
    const clientId = `retried-${Date.now()}`;
    node.count('tokens_issued', 'client_credentials', clientId, 4);
    await expect(node.flush()).rejects.toThrow('down');
    fail = false;
    node.count('tokens_issued', 'client_credentials', clientId, 1);
    await node.close();
    expect(seriesOf((await stats()).body, 'tokens_issued', clientId)[0]?.total).toBe(5);
  });

  it('sweeps minutes older than the retention with the expired-row cleanup, and only those', async () => {
    const store = createRollupStore(gh.app.db);
    const old = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 15 * 86_400_000);
    const recent = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 13 * 86_400_000);
    await store.add([
      { minute: old, metric: 'lockouts', label: 'sweep', clientId: '', count: 2 },
      { minute: recent, metric: 'lockouts', label: 'sweep', clientId: '', count: 3 },
    ]);
    const removed = await removeExpiredArtifacts(gh.app.db, gh.app.services.rollups);
    expect(removed).toBe(1);
    const { rows } = await gh.app.db.query<{ minute: Date }>("SELECT minute FROM stats_minute WHERE label = 'sweep'");
    expect(rows.map((r) => new Date(r.minute).getTime())).toEqual([recent.getTime()]);
  });

  it('refuses a bad range, unknown parameters, no token and the wrong scope with problem details', async () => {
    const bad = await stats('?range=2h');
    expect(bad.status).toBe(400);
    expect(bad.type).toMatch(/application\/problem\+json/);
    expect(bad.body.fields).toEqual(['query.range']);
    expect((await stats('?range=1h&x=1')).status).toBe(400);
    expect((await fetch(`${gh.issuer}/admin/v1/stats`)).status).toBe(401);
    const auditOnly = await (await adminServiceClient(gh, ['admin:audit.read'])).token();
    const refused = await stats('', auditOnly);
    expect(refused.status).toBe(403);
  });
});
