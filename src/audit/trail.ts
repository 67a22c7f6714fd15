/**
 * The audit trail as a process runs it: the buffered, hash-chained log, the
 * alert rules listening to it, and the signed webhook they deliver through.
 * The server and the CLI both open one, so an operator's command is audited
 * (and alerted on) exactly like a request.
 */
import type { Logger } from 'pino';

import type { Config } from '../config/index.js';
import type { Db } from '../db/index.js';
import type { LimiterFactory } from '../db/counters.js';
import { createAlerts, defaultAlertRules, type Alerts } from './alerts.js';
import { createAuditLog, type AuditLog, type RecordedEvent } from './log.js';
import { createAuditStore } from './store.js';
import { createWebhook } from './webhook.js';

export interface AuditTrailHooks {
  onEvent?: (event: RecordedEvent) => void;
  onWritten?: (count: number) => void;
  onDropped?: (count: number) => void;
  onFlushFailed?: () => void;
  onAlert?: (rule: string) => void;
  onDelivery?: (outcome: string) => void;
}

export interface AuditTrail {
  audit: AuditLog;
  alerts: Alerts;
  /** Drains the audit queue, settles alert rules and tries pending deliveries; call before the database closes. */
  close(): Promise<void>;
}

/** chainKey: derived from the master secret (`secrets.deriveKey('audit-chain')`). */
export function openAuditTrail(options: {
  db: Db;
  chainKey: Buffer;
  log: Logger;
  /** Where "security alert" lines go; `log` unless the caller keeps them off a terminal (the CLI). */
  alertLog?: Logger;
  counters: LimiterFactory;
  alerts: Config['alerts'];
  issuer: string;
  hooks?: AuditTrailHooks;
}): AuditTrail {
  const { log, hooks = {} } = options;
  const audit = createAuditLog({
    store: createAuditStore(options.db),
    chainKey: options.chainKey,
    log,
    ...(hooks.onWritten ? { onWritten: hooks.onWritten } : {}),
    ...(hooks.onDropped ? { onDropped: hooks.onDropped } : {}),
    ...(hooks.onFlushFailed ? { onFlushFailed: hooks.onFlushFailed } : {}),
  });
  const webhook = options.alerts.webhookUrl && options.alerts.webhookSecret
    ? createWebhook({ url: options.alerts.webhookUrl, secret: options.alerts.webhookSecret, log, ...(hooks.onDelivery ? { onOutcome: hooks.onDelivery } : {}) })
    : undefined;
  const alerts = createAlerts({
    rules: defaultAlertRules(options.alerts),
    counters: options.counters,
    issuer: options.issuer,
    log,
    alertLog: options.alertLog ?? log,
    ...(webhook ? { webhook } : {}),
    ...(hooks.onAlert ? { onAlert: hooks.onAlert } : {}),
  });
  if (hooks.onEvent) audit.subscribe(hooks.onEvent);
  audit.subscribe((event) => alerts.observe(event));
  return {
    audit,
    alerts,
    async close() {
      await audit.close();
      await alerts.settle();
      await webhook?.close();
    },
  };
}
