/**
 * The audit sink behind `services.audit`: `record` is synchronous and never
 * throws or waits; events queue in memory and are appended to the chain in
 * batches (one transaction per batch) by a single writer per process, so the
 * token endpoint never waits for the database on their account. `close`
 * drains the queue before the database closes: a graceful shutdown loses
 * nothing. A crash loses at most the last flush interval.
 */
import { hostname } from 'node:os';

import type { Logger } from 'pino';

import { requestFacts } from '../observability/request-facts.js';
import type { ChainedContent } from './chain.js';
import type { Audit, AuditEvent } from './events.js';
import type { AuditStore } from './store.js';

/** Request facts the request-context middleware publishes, so services need not pass them. */

/** A recorded event as listeners (metrics, alerts) see it. */
export type RecordedEvent = ChainedContent;

export interface AuditLog extends Audit {
  /** Events waiting to be written. */
  readonly depth: number;
  /** Called synchronously for every event; a listener that throws is logged and skipped. */
  subscribe(listener: (event: RecordedEvent) => void): void;
  /** Writes everything queued so far. */
  flush(): Promise<void>;
  /** Stops the timer and drains the queue, retrying for up to `drainTimeoutMs`. */
  close(): Promise<void>;
}

export interface AuditLogOptions {
  store: AuditStore;
  chainKey: Buffer;
  log: Logger;
  /** Longest an event waits before its batch is written. */
  flushIntervalMs?: number;
  batchSize?: number;
  /** Past this many queued events (the database is down for long), new ones are dropped and counted. */
  maxQueue?: number;
  drainTimeoutMs?: number;
  onWritten?: (count: number) => void;
  onDropped?: (count: number) => void;
  onFlushFailed?: () => void;
}

const maxText = 512;
const maxDetailBytes = 8192;

// eslint-disable-next-line no-control-regex
const controlCharacter = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/**
 * NUL is the one character PostgreSQL text and jsonb refuse, and a lone UTF-16
 * surrogate (from anything a client typed) is JSON jsonb cannot read: either
 * would fail its whole batch, every retry. Control characters would garble a
 * terminal.
 */
function clean(value: string | undefined): string | null {
  if (value === undefined || value === null) return null;
  let text = String(value);
  // Testing first spares the usual string (nothing to remove) a copy.
  if (controlCharacter.test(text)) text = text.replace(controlCharacters, '');
  if (!text.isWellFormed()) text = text.toWellFormed();
  return text.length > maxText ? `${text.slice(0, maxText)}…` : text;
}

/**
 * The detail as jsonb will store it, so the hash of what is read back
 * matches. A flat object of strings, finite numbers, booleans and nulls
 * (nearly every event, one per token issued) is copied as it is; anything
 * else, or anything that might be long, takes a JSON round trip, which is
 * exactly what jsonb keeps.
 */
function cleanDetail(detail: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!detail) return {};
  const flat: Record<string, unknown> = {};
  let length = 0;
  for (const key of Object.keys(detail)) {
    const value = detail[key];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      const text = clean(value)!;
      flat[key] = text;
      length += key.length + text.length;
    } else if (value === null || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      flat[key] = value;
      length += key.length + 24;
    } else {
      return cleanNestedDetail(detail);
    }
  }
  // Six bytes per character is the most JSON escaping can make of one.
  return length * 6 > maxDetailBytes ? cleanNestedDetail(detail) : flat;
}

function cleanNestedDetail(detail: Record<string, unknown>): Record<string, unknown> {
  try {
    const text = JSON.stringify(detail, (_key, value: unknown) => (typeof value === 'string' ? clean(value) : value));
    if (text.length > maxDetailBytes) return { truncated: true, bytes: text.length };
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { unserialisable: true };
  }
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const { store, chainKey, log } = options;
  const flushIntervalMs = options.flushIntervalMs ?? 100;
  const batchSize = options.batchSize ?? 500;
  const maxQueue = options.maxQueue ?? 200_000;
  const drainTimeoutMs = options.drainTimeoutMs ?? 15_000;
  const node = `${hostname()}:${process.pid}`;
  const listeners: Array<(event: RecordedEvent) => void> = [];
  let queue: RecordedEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let failures = 0;
  let closed = false;

  const schedule = (delay: number) => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void writeAll();
    }, delay);
    timer.unref();
  };

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, batchSize);
      try {
        await store.append(batch, chainKey);
      } catch (error) {
        failures += 1;
        options.onFlushFailed?.();
        log.warn({ err: error, queued: queue.length, attempt: failures }, 'audit batch write failed; will retry');
        return;
      }
      failures = 0;
      queue = queue.slice(batch.length);
      options.onWritten?.(batch.length);
    }
  }

  /** One writer at a time: chain order within a process is queue order. */
  function writeAll(): Promise<void> {
    if (writing) return writing;
    if (queue.length === 0) return Promise.resolve();
    writing = drain().finally(() => {
      writing = undefined;
      // Backoff after failures (200 ms, 400 ms … 5 s); more events may have arrived meanwhile.
      if (queue.length > 0) schedule(failures ? Math.min(flushIntervalMs * 2 ** failures, 5000) : 0);
    });
    return writing;
  }

  return {
    get depth() {
      return queue.length;
    },

    record(event: AuditEvent) {
      try {
        const facts = requestFacts.getStore();
        const recorded: RecordedEvent = {
          occurredAt: new Date(),
          type: clean(event.type) ?? 'unknown',
          outcome: clean(event.outcome),
          actor: clean(event.actor),
          subject: clean(event.subject),
          clientId: clean(event.clientId),
          ip: clean(event.ip ?? facts?.ip),
          requestId: clean(event.requestId ?? facts?.requestId),
          node,
          detail: cleanDetail(event.detail),
        };
        for (const listener of listeners) {
          try {
            listener(recorded);
          } catch (error) {
            log.warn({ err: error, type: recorded.type }, 'audit listener failed');
          }
        }
        if (queue.length >= maxQueue) {
          options.onDropped?.(1);
          log.error({ type: recorded.type, queued: queue.length }, 'audit queue full: event dropped (is the database reachable?)');
          return;
        }
        queue.push(recorded);
        if (queue.length >= batchSize) schedule(0);
        else schedule(flushIntervalMs);
      } catch (error) {
        // The seam promises never to throw into a request.
        log.error({ err: error }, 'audit record failed');
      }
    },

    subscribe(listener) {
      listeners.push(listener);
    },

    async flush() {
      while (queue.length > 0) {
        const before = failures;
        await writeAll();
        if (failures > before) throw new Error('audit flush failed');
      }
    },

    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      const deadline = Date.now() + drainTimeoutMs;
      while (queue.length > 0 && Date.now() < deadline) {
        await (writing ?? writeAll());
        if (queue.length > 0 && failures > 0) await new Promise((r) => setTimeout(r, Math.min(200 * failures, 2000)));
      }
      if (queue.length > 0) log.error({ lost: queue.length }, 'audit events could not be written before shutdown');
      else log.info('audit log drained');
    },
  };
}
