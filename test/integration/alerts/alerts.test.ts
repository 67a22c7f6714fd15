/**
 * Alerts: rules raise them, a webhook receives them signed with the
 * documented HMAC scheme (docs/alerts.md), failed deliveries are retried
 * with backoff, and a receiver that is down or hangs never slows a request.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { verifySignature } from '../../../src/audit/webhook.js';
import { startTestGatehouse, type TestGatehouse } from '../../support/gatehouse.js';
import { basic, sleep, tokenRequest } from '../../support/requests.js';

interface Received {
  at: number;
  headers: IncomingMessage['headers'];
  body: string;
}

async function receiver(answer: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, body });
      answer(req, res, received.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/gatehouse`, received, server };
}

const secret = 'webhook-secret-0123456789-abcdefghijklmnop';

async function until<T>(what: () => T | undefined, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = what();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(50);
  }
}

describe('alerts to a signed webhook', () => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  let gh: TestGatehouse;

  beforeAll(async () => {
    // Refuses the first delivery of each alert, accepts the retry.
    const attempts = new Map<string, number>();
    hook = await receiver((req, res) => {
      const id = String(req.headers['gatehouse-delivery']);
      attempts.set(id, (attempts.get(id) ?? 0) + 1);
      res.writeHead(attempts.get(id) === 1 ? 503 : 204).end();
    });
    gh = await startTestGatehouse({
      env: { GATEHOUSE_ALERT_WEBHOOK_URL: hook.url, GATEHOUSE_ALERT_WEBHOOK_SECRET: secret, GATEHOUSE_ALERT_INVALID_CLIENT: '3/1m', GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=off,client=off' },
    });
  });
  afterAll(async () => {
    await gh?.close();
    hook?.server.close();
  });

  it('raises a burst of invalid_client once, at the threshold, and delivers it signed', async () => {
    const client = await gh.createClient({ type: 'service', name: 'guessed' });
    for (let i = 0; i < 5; i += 1) await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(client.clientId, `guess-${i}`) })).arrayBuffer();
    const delivery = await until(() => hook.received.find((r) => r.body.includes('invalid_client_burst') && r.headers['gatehouse-delivery']));
    const alert = JSON.parse(delivery.body) as Record<string, unknown>;
    expect(alert).toMatchObject({ alert: 'invalid_client_burst', severity: 'warning', count: 3, window_seconds: 60, issuer: gh.issuer });
    expect((alert.event as Record<string, unknown>).type).toBe('client.authentication_failed');
    expect(delivery.headers['content-type']).toBe('application/json');

    // The documented scheme, computed independently: v1 = hex HMAC-SHA256(secret, "<t>.<raw body>").
    const header = String(delivery.headers['gatehouse-signature']);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) ?? [];
    expect(v1).toBe(createHmac('sha256', secret).update(`${t}.${delivery.body}`).digest('hex'));
    expect(Math.abs(Date.now() / 1000 - Number(t))).toBeLessThan(30);
    expect(verifySignature(secret, header, delivery.body)).toBe(true);
    // Tampered body, wrong secret, or a replay outside the tolerance: refused.
    expect(verifySignature(secret, header, delivery.body.replace('"count":3', '"count":4'))).toBe(false);
    expect(verifySignature(`${secret}x`, header, delivery.body)).toBe(false);
    expect(verifySignature(secret, header, delivery.body, { now: Number(t) + 301 })).toBe(false);

    // Requests 4 and 5 raised nothing new: every delivery of this alert is the same one (the first try was refused, then retried).
    await sleep(300);
    const ids = hook.received.filter((r) => r.body.includes('invalid_client_burst')).map((r) => r.headers['gatehouse-delivery']);
    expect(new Set(ids)).toEqual(new Set([delivery.headers['gatehouse-delivery']]));
  });

  it('retries a refused delivery with backoff, under the same delivery id', async () => {
    gh.app.services.audit.record({ type: 'account.disabled', outcome: 'success', actor: 'operator', subject: 'acct-1' });
    const tries = await until(() => {
      const mine = hook.received.filter((r) => r.body.includes('"admin_action"') && r.body.includes('acct-1'));
      return mine.length >= 2 ? mine : undefined;
    });
    expect(tries[0]!.headers['gatehouse-delivery']).toBe(tries[1]!.headers['gatehouse-delivery']);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(700); // 1 s ± 25 % jitter
    expect(verifySignature(secret, String(tries[1]!.headers['gatehouse-signature']), tries[1]!.body)).toBe(true);
  });
});

describe('a webhook that is down or hangs', () => {
  let hung: Awaited<ReturnType<typeof receiver>>;
  let gh: TestGatehouse;
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    hung = await receiver((_req, res) => held.push(res)); // never answers
    gh = await startTestGatehouse({
      env: { GATEHOUSE_ALERT_WEBHOOK_URL: hung.url, GATEHOUSE_ALERT_WEBHOOK_SECRET: secret, GATEHOUSE_ALERT_INVALID_CLIENT: '1/1m', GATEHOUSE_RATE_LIMIT_TOKEN: 'ip=off,client=off' },
    });
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    hung?.server.closeAllConnections();
    hung?.server.close();
    await gh?.close();
  });

  const timed = async (n: number, send: () => Promise<Response>) => {
    const times: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const started = performance.now();
      await (await send()).arrayBuffer();
      times.push(performance.now() - started);
    }
    return times.sort((a, b) => a - b);
  };

  it('does not slow requests down, even the ones that raise alerts', async () => {
    const client = await gh.createClient({ type: 'service', name: 'steady' });
    const good = () => tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(client.clientId, client.clientSecret!) });
    await timed(10, good); // warm up
    const baseline = await timed(30, good);

    // Alerts pile up behind a receiver that never answers: one from the threshold, many from operator actions.
    for (let i = 0; i < 50; i += 1) gh.app.services.audit.record({ type: 'client.disabled', outcome: 'success', actor: 'operator', subject: `c-${i}` });
    const failing = await timed(10, () => tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(client.clientId, 'wrong') }));
    const loaded = await timed(30, good);
    await until(() => (hung.received.length > 0 ? true : undefined));

    const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
    process.stdout.write(`[measure] token request median: ${median(baseline).toFixed(1)} ms before, ${median(loaded).toFixed(1)} ms with 51 alerts stuck on a hung webhook; slowest invalid_client ${failing.at(-1)!.toFixed(1)} ms\n`);
    expect(median(loaded)).toBeLessThan(median(baseline) + 25);
    expect(loaded.at(-1)!).toBeLessThan(1000);
    expect(failing.at(-1)!).toBeLessThan(1000);
    expect(gh.logs.some((l) => l.includes('"msg":"security alert"') && l.includes('invalid_client_burst'))).toBe(true);
  });
});
