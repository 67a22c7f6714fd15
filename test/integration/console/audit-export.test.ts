/**
 * GET /admin/v1/audit/export (issue 16 §3, the console's audit export): the
 * search's filters (type or prefix, actor, subject, since/until) applied to
 * a streamed JSON lines or CSV body, more rows than one database batch,
 * newest first; CSV quoted per RFC 4180 with spreadsheet formulas defused;
 * bad input and the wrong scope refused with problem details.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { adminServiceClient } from '../admin/helpers.js';

describe('audit export', () => {
  let gh: TestGatehouse;
  let token: string;
  const tag = `t${Date.now().toString(36)}`;

  beforeAll(async () => {
    gh = await startTestGatehouse();
    token = await (await adminServiceClient(gh, ['admin:audit.read'])).token();
    // More than one batch (500) of one type, plus a few hostile rows.
    for (let i = 0; i < 620; i += 1) gh.app.audit.record({ type: `export.${tag}.bulk`, outcome: 'success', actor: 'operator', subject: `bulk-${i % 3}` });
    gh.app.audit.record({ type: `export.${tag}.hostile`, outcome: 'failure', actor: '=HYPERLINK("http://evil.example")', subject: 'a "quoted", two-line\nsubject', detail: { note: '+1' } });
    gh.app.audit.record({ type: `export.${tag}.hostile`, outcome: 'success', actor: '@SUM(A1)', subject: 'plain' });
    await gh.app.audit.flush();
  });
  afterAll(() => gh?.close());

  const get = async (query: string, bearer = token) => {
    const response = await fetch(`${gh.issuer}/admin/v1/audit/export?${query}`, { headers: { authorization: `Bearer ${bearer}` } });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };

  it('streams every matching event as JSON lines, newest first, past one batch', async () => {
    const answer = await get(`format=jsonl&type=export.${tag}.bulk`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/jsonl; charset=utf-8');
    expect(answer.headers.get('content-disposition')).toMatch(/^attachment; filename="gatehouse-audit-[\w-]+\.jsonl"$/);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const events = answer.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string; subject: string; hash: string });
    expect(events).toHaveLength(620);
    expect(new Set(events.map((e) => e.seq)).size).toBe(620);
    expect(events.every((e) => e.type === `export.${tag}.bulk` && /^[0-9a-f]{64}$/.test(e.hash))).toBe(true);
    for (let i = 1; i < events.length; i += 1) expect(events[i]!.seq).toBeLessThan(events[i - 1]!.seq);
  });

  it('applies the prefix, subject and time filters as the search does', async () => {
    const prefix = await get(`format=jsonl&type=export.${tag}.`);
    expect(prefix.text.trimEnd().split('\n')).toHaveLength(622);
    const subject = await get(`format=jsonl&type=export.${tag}.bulk&subject=bulk-1`);
    const rows = subject.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { subject: string });
    expect(rows).toHaveLength(207);
    expect(rows.every((r) => r.subject === 'bulk-1')).toBe(true);
    const future = await get(`format=jsonl&type=export.${tag}.&since=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`);
    expect(future.status).toBe(200);
    expect(future.text).toBe('');
    const past = await get(`format=csv&type=export.${tag}.&until=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}`);
    expect(past.text).toBe('seq,occurred_at,type,outcome,actor,subject,client_id,ip,request_id,detail,hash\r\n');
  });

  it('writes CSV with a header, RFC 4180 quoting and formulas defused', async () => {
    const answer = await get(`format=csv&type=export.${tag}.hostile`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present');
    const lines = answer.text.split('\r\n');
    expect(lines[0]).toBe('seq,occurred_at,type,outcome,actor,subject,client_id,ip,request_id,detail,hash');
    // Newest first: the @SUM row, then the one with the quoted two-line subject.
    expect(lines[1]).toContain(`,export.${tag}.hostile,success,'@SUM(A1),plain,,,,{},`);
    expect(answer.text).toContain(`,failure,"'=HYPERLINK(""http://evil.example"")","a ""quoted"", two-line\nsubject",,,,"{""note"":""+1""}",`);
    expect(answer.text.endsWith('\r\n')).toBe(true);
  });

  it('refuses a missing or unknown format, paging parameters, no token and the wrong scope', async () => {
    for (const query of ['', 'format=xml', 'format=csv&cursor=abc', 'format=csv&since=yesterday']) {
      const answer = await get(query);
      expect(answer.status, query).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    expect((await get('format=csv', '')).status).toBe(401);
    const stats = await (await adminServiceClient(gh, ['admin:stats.read'])).token();
    const refused = await get('format=csv', stats);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toContain('scope="admin:audit.read"');
  });
});
