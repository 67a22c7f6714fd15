/**
 * /metrics: not exposed without configuration, bearer-protected on the main
 * port, plain on its own listener; valid Prometheus text format whose
 * counters move as requests happen.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, tokenRequest } from '../../support/requests.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text exposition format (0.0.4): every
 * line is a HELP, a TYPE or a sample; every sample belongs to a declared
 * family; label values are quoted and escaped. Throws on anything else.
 */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|[Nn]a[Nn]|\+Inf|-Inf))( \d+)?$/;
  expect(text.endsWith('\n')).toBe(true);
  for (const line of text.slice(0, -1).split('\n')) {
    // The format allows empty lines between families (prom-client writes one).
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const match = sampleLine.exec(line);
    if (!match) throw new Error(`not Prometheus text format: ${JSON.stringify(line)}`);
    const name = match[1]!;
    const family = name.replace(/_(bucket|sum|count|total|created)$/, '');
    if (!types.has(name) && !types.has(family)) throw new Error(`sample ${name} has no TYPE`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name, labels, value: Number(match[3]) });
  }
  return { samples, types };
}

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

describe('metrics', () => {
  const token = randomBytes(24).toString('base64url');
  let gh: TestGatehouse;
  let dark: TestGatehouse;
  let client: { clientId: string; clientSecret: string | undefined };

  beforeAll(async () => {
    [gh, dark] = await Promise.all([
      startTestGatehouse({ env: { GATEHOUSE_METRICS_TOKEN: token, GATEHOUSE_METRICS_PORT: '0', GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=off,client=3/1m' } }),
      startTestGatehouse(),
    ]);
    client = await gh.createClient({ type: 'service', name: 'metered' });
  });
  afterAll(async () => {
    await Promise.all([gh?.close(), dark?.close()]);
  });

  const scrape = async () => {
    const response = await fetch(`${gh.issuer}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await response.text());
  };

  it('is not served on the main port unless a token is configured', async () => {
    expect((await fetch(`${dark.issuer}/metrics`)).status).toBe(404);
    expect(dark.app.metricsUrl).toBeUndefined();
  });

  it('wants the bearer token on the main port', async () => {
    expect((await fetch(`${gh.issuer}/metrics`)).status).toBe(401);
    expect((await fetch(`${gh.issuer}/metrics`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await fetch(`${gh.issuer}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('parses as Prometheus text format and covers every family the dashboard uses', async () => {
    const { types } = await scrape();
    for (const family of [
      'gatehouse_http_requests_total', 'gatehouse_http_request_duration_seconds', 'gatehouse_tokens_issued_total', 'gatehouse_logins_total',
      'gatehouse_second_factor_total', 'gatehouse_rate_limited_total', 'gatehouse_audit_queue_depth', 'gatehouse_audit_events_written_total',
      'gatehouse_signing_key_age_seconds', 'gatehouse_signing_key_rotation_due_seconds', 'gatehouse_process_resident_memory_bytes',
    ]) expect(types.has(family), family).toBe(true);
    // Every series the Grafana dashboard queries exists.
    const dashboard = await readFile(new URL('../../../docker/grafana-dashboard.json', import.meta.url), 'utf8');
    const used = new Set([...dashboard.matchAll(/gatehouse_[a-z0-9_]+/g)].map((m) => m[0].replace(/_bucket$/, '')));
    for (const name of used) expect(types.has(name) || types.has(name.replace(/_total$/, '')), name).toBe(true);
  });

  it('moves its counters as requests happen', async () => {
    const before = (await scrape()).samples;
    const auth = { authorization: basic(client.clientId, client.clientSecret!) };
    for (let i = 0; i < 4; i += 1) await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, auth)).arrayBuffer();
    await gh.app.audit.flush();
    const after = (await scrape()).samples;
    const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
    expect(delta('gatehouse_tokens_issued_total', { grant_type: 'client_credentials' })).toBe(3);
    expect(delta('gatehouse_rate_limited_total', { class: 'token', key: 'client' })).toBe(1);
    expect(delta('gatehouse_http_requests_total', { route: 'token', method: 'POST', status: '200' })).toBe(3);
    expect(delta('gatehouse_http_requests_total', { route: 'token', method: 'POST', status: '429' })).toBe(1);
    expect(delta('gatehouse_http_request_duration_seconds_count', { route: 'token', status: '200' })).toBe(3);
    expect(delta('gatehouse_audit_events_written_total')).toBeGreaterThanOrEqual(3);
    expect(value(after, 'gatehouse_audit_queue_depth')).toBe(0);
    expect(value(after, 'gatehouse_signing_key_rotation_due_seconds', { alg: 'ES256' })).toBeGreaterThan(29 * 86_400);
    expect(value(after, 'gatehouse_signing_key_age_seconds', { alg: 'ES256' })).toBeLessThan(600);
    if (gh.app.db.kind === 'postgres') expect(value(after, 'gatehouse_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
    // A scanner's random paths share one label instead of creating series.
    await fetch(`${gh.issuer}/nothing-${randomBytes(4).toString('hex')}`);
    const scanned = (await scrape()).samples;
    expect(scanned.filter((s) => s.name === 'gatehouse_http_requests_total' && s.labels.route?.startsWith('/nothing'))).toEqual([]);
    expect(value(scanned, 'gatehouse_http_requests_total', { route: 'unmatched', status: '404' })).toBeGreaterThanOrEqual(1);
  });

  it('serves the same registry on its own listener', async () => {
    expect(gh.app.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const response = await fetch(gh.app.metricsUrl!, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(value(parsePrometheus(await response.text()).samples, 'gatehouse_tokens_issued_total')).toBeGreaterThanOrEqual(3);
    expect((await fetch(gh.app.metricsUrl!.replace('/metrics', '/token'))).status).toBe(404);
  });
});
