/**
 * Signed alert delivery (scheme in docs/alerts.md). Each delivery is a JSON
 * POST with
 *
 *   Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *   Gatehouse-Delivery:  <uuid, stable across retries: receivers de-duplicate on it>
 *
 * so a receiver can check integrity and origin, and refuse replays by the
 * timestamp's age. Deliveries queue in memory and are sent by one background
 * loop with exponential backoff; `send` never waits, so a slow or failing
 * receiver cannot slow a request down.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

import type { Logger } from 'pino';

export const signatureHeader = 'Gatehouse-Signature';
export const deliveryHeader = 'Gatehouse-Delivery';

export function signPayload(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** The receiver's side, as documented: used by the tests and usable as reference code. */
export function verifySignature(secret: string, header: string | null | undefined, body: string, options: { toleranceSeconds?: number; now?: number } = {}): boolean {
  const parts = new Map((header ?? '').split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const given = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(given)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? 300)) return false;
  const expected = signPayload(secret, t, body).split('v1=')[1]!;
  return timingSafeEqual(Buffer.from(expected, 'hex'), Buffer.from(given, 'hex'));
}

export interface WebhookOptions {
  url: string;
  secret: string;
  log: Logger;
  /** Attempts per delivery, the first included. */
  attempts?: number;
  baseDelayMs?: number;
  timeoutMs?: number;
  maxQueue?: number;
  onOutcome?: (outcome: 'delivered' | 'retried' | 'failed' | 'dropped') => void;
}

interface Delivery {
  id: string;
  body: string;
  attempt: number;
  notBefore: number;
}

export interface Webhook {
  send(payload: Record<string, unknown>): void;
  readonly pending: number;
  /** Tries what is queued for up to timeoutMs (shutdown), then gives up. */
  close(timeoutMs?: number): Promise<void>;
}

export function createWebhook(options: WebhookOptions): Webhook {
  const { url, secret, log } = options;
  const attempts = options.attempts ?? 6;
  const baseDelayMs = options.baseDelayMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxQueue = options.maxQueue ?? 1000;
  const queue: Delivery[] = [];
  let running: Promise<void> | undefined;
  let wake: NodeJS.Timeout | undefined;
  let closing = false;

  async function attempt(delivery: Delivery): Promise<boolean> {
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Alerts/1',
          [signatureHeader]: signPayload(secret, timestamp, delivery.body),
          [deliveryHeader]: delivery.id,
        },
        body: delivery.body,
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.ok) return true;
      log.warn({ delivery: delivery.id, status: response.status, attempt: delivery.attempt }, 'alert webhook refused the delivery');
    } catch (error) {
      log.warn({ delivery: delivery.id, err: (error as Error).message, attempt: delivery.attempt }, 'alert webhook unreachable');
    }
    return false;
  }

  /** Deliveries go out one at a time, in order; a failed one waits its backoff without holding up later ones. */
  async function loop(): Promise<void> {
    while (queue.length > 0) {
      const now = Date.now();
      const index = queue.findIndex((d) => d.notBefore <= now);
      if (index < 0) {
        if (closing) return;
        const soonest = Math.min(...queue.map((d) => d.notBefore));
        clearTimeout(wake);
        wake = setTimeout(() => void kick(), soonest - now);
        wake.unref();
        return;
      }
      const [delivery] = queue.splice(index, 1) as [Delivery];
      delivery.attempt += 1;
      if (await attempt(delivery)) {
        options.onOutcome?.('delivered');
        continue;
      }
      if (delivery.attempt >= attempts) {
        options.onOutcome?.('failed');
        log.error({ delivery: delivery.id, attempts: delivery.attempt }, 'alert webhook delivery abandoned');
        continue;
      }
      options.onOutcome?.('retried');
      // Exponential backoff with jitter: 1 s, 2 s, 4 s … so a receiver coming back is not stampeded.
      const delay = baseDelayMs * 2 ** (delivery.attempt - 1) * (0.75 + Math.random() / 2);
      delivery.notBefore = Date.now() + delay;
      queue.push(delivery);
    }
  }

  function kick(): Promise<void> {
    running ??= loop().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    send(payload) {
      if (queue.length >= maxQueue) {
        options.onOutcome?.('dropped');
        log.error({ queued: queue.length }, 'alert webhook queue full: alert dropped');
        return;
      }
      queue.push({ id: randomUUID(), body: JSON.stringify(payload), attempt: 0, notBefore: 0 });
      void kick();
    },
    get pending() {
      return queue.length;
    },
    async close(timeout = 5000) {
      closing = true;
      clearTimeout(wake);
      const deadline = Date.now() + timeout;
      for (const d of queue) d.notBefore = 0;
      while (queue.length > 0 && Date.now() < deadline) {
        await Promise.race([kick(), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref())]);
        for (const d of queue) d.notBefore = 0;
      }
      if (queue.length > 0) log.warn({ undelivered: queue.length }, 'alert deliveries still pending at shutdown');
    },
  };
}
