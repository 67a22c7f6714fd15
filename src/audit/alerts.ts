/**
 * Alert rules over the audit stream. Threshold rules count in the shared
 * counter store (PostgreSQL when there is one), so "10 failed sign-ins for
 * alice in 5 minutes" holds across every node, and fire once per window: at
 * the event that reaches the threshold. Immediate rules fire on every match.
 * Evaluation runs off the request path; delivery is the webhook's queue.
 */
import { randomUUID } from 'node:crypto';

import type { Logger } from 'pino';

import type { Threshold } from '../config/index.js';
import { windowCounter, type LimiterFactory } from '../db/counters.js';
import { eventColumns } from './chain.js';
import type { RecordedEvent } from './log.js';
import type { Webhook } from './webhook.js';

export interface AlertRule {
  name: string;
  severity: 'warning' | 'critical';
  matches(event: RecordedEvent): boolean;
  /** What is counted per (account, IP …); omitted for immediate rules. */
  key?(event: RecordedEvent): string | null;
  threshold?: Threshold;
  summary(event: RecordedEvent, count: number): string;
}

const isAdminActor = (e: RecordedEvent) => e.actor === 'operator' || (e.actor?.startsWith('admin:') ?? false);

// A role change that grants or removes an admin API permission (src/rbac/rbac.ts), whoever made it.
const changesAdminPermission = (e: RecordedEvent) => e.detail['adminPermission'] === true;

// A password or second-factor failure; `login.locked` only accompanies one of these, so it is not counted again.
const isLoginFailure = (e: RecordedEvent) => e.type === 'login.failure' || e.type === 'mfa.failed';

export function defaultAlertRules(config: { loginFailures: Threshold; invalidClient: Threshold }): AlertRule[] {
  const window = (t: Threshold) => (t.windowSeconds % 60 === 0 ? `${t.windowSeconds / 60} min` : `${t.windowSeconds} s`);
  return [
    {
      name: 'login_failures_account',
      severity: 'warning',
      matches: isLoginFailure,
      key: (e) => e.subject ?? e.actor,
      threshold: config.loginFailures,
      summary: (e, n) => `${n} failed sign-ins for account ${e.subject ?? e.actor} within ${window(config.loginFailures)}`,
    },
    {
      name: 'login_failures_ip',
      severity: 'warning',
      matches: isLoginFailure,
      key: (e) => e.ip,
      threshold: config.loginFailures,
      summary: (e, n) => `${n} failed sign-ins from ${e.ip} within ${window(config.loginFailures)}`,
    },
    {
      name: 'invalid_client_burst',
      severity: 'warning',
      matches: (e) => e.type === 'client.authentication_failed',
      key: () => 'all',
      threshold: config.invalidClient,
      summary: (_e, n) => `${n} failed client authentications (invalid_client) within ${window(config.invalidClient)}`,
    },
    {
      name: 'refresh_token_reuse',
      severity: 'critical',
      matches: (e) => e.type === 'token.reuse_detected',
      summary: (e) => `a ${String(e.detail.token ?? 'token')} was used twice by client ${e.clientId ?? 'unknown'}; its grant was revoked`,
    },
    {
      name: 'signing_key_revoked',
      severity: 'critical',
      matches: (e) => e.type === 'key.revoked',
      summary: (e) => `signing key ${e.subject ?? ''} was revoked`,
    },
    {
      name: 'admin_action',
      severity: 'warning',
      // The operator's terminal and admin API callers (`admin:<client>[/<user>]`, see actorLabel).
      // A sign-out that follows from another change (disabling the account, a password or factor reset) is part of
      // that change's one alert; only "sign out everywhere" itself is the operator's own action.
      matches: (e) => (isAdminActor(e) && !isConsequentSignOut(e)) || changesAdminPermission(e),
      summary: (e) => `${e.actor === 'operator' ? 'operator' : `admin ${e.actor?.slice('admin:'.length) ?? ''}`} action ${e.type}${e.subject ? ` on ${e.subject}` : ''}`,
    },
  ];
}

function isConsequentSignOut(e: RecordedEvent): boolean {
  return e.type === 'sessions.revoked' && e.detail?.reason !== undefined && e.detail.reason !== 'sign_out_everywhere';
}

export interface Alerts {
  observe(event: RecordedEvent): void;
  /** Waits for rule evaluations under way (tests, shutdown). */
  settle(): Promise<void>;
}

export function createAlerts(options: { rules: AlertRule[]; counters: LimiterFactory; webhook?: Webhook; issuer: string; log: Logger; alertLog?: Logger; onAlert?: (rule: string) => void }): Alerts {
  const { log, webhook } = options;
  const alertLog = options.alertLog ?? log;
  const counters = new Map(options.rules.filter((r) => r.threshold).map((r) => [r.name, windowCounter(options.counters, `alert.${r.name}`, r.threshold!.windowSeconds)]));
  const inFlight = new Set<Promise<void>>();

  function raise(rule: AlertRule, event: RecordedEvent, count: number) {
    const alert = {
      id: randomUUID(),
      alert: rule.name,
      severity: rule.severity,
      summary: rule.summary(event, count),
      count,
      ...(rule.threshold ? { window_seconds: rule.threshold.windowSeconds } : {}),
      issuer: options.issuer,
      raised_at: new Date().toISOString(),
      event: eventColumns(event),
    };
    options.onAlert?.(rule.name);
    alertLog.warn({ alert: rule.name, severity: rule.severity, requestId: event.requestId, summary: alert.summary }, 'security alert');
    webhook?.send(alert);
  }

  return {
    observe(event) {
      for (const rule of options.rules) {
        if (!rule.matches(event)) continue;
        if (!rule.threshold) {
          raise(rule, event, 1);
          continue;
        }
        const key = rule.key?.(event);
        if (!key) continue;
        const work = counters
          .get(rule.name)!
          .hit(key)
          .then((count) => {
            if (count === rule.threshold!.count) raise(rule, event, count);
          })
          .catch((error: unknown) => log.warn({ err: error, alert: rule.name }, 'alert counter unavailable'))
          .finally(() => inFlight.delete(work));
        inFlight.add(work);
      }
    },
    async settle() {
      await Promise.all([...inFlight]);
    },
  };
}
