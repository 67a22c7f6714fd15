/**
 * Prometheus metrics (prom-client), one registry per server so tests can run
 * several in one process. Business counters (tokens issued, sign-ins, second
 * factor) are derived from audit events in one place, `observeAudit`, so a
 * feature that audits its events gets its metrics for free.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';


/** What metrics read of a recorded audit event (src/audit/log.ts RecordedEvent). */
export interface AuditedEvent {
  type: string;
  outcome: string | null;
  detail: Record<string, unknown>;
}

export interface MetricSources {
  auditQueueDepth?: () => number;
  poolStats?: () => { total: number; idle: number; waiting: number } | undefined;
  keyStatus?: () => Promise<Array<{ alg: string; ageSeconds: number; secondsToRotation: number }>>;
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_' });
  const registers = [registry];

  const requests = new Counter({ name: 'gatehouse_http_requests_total', help: 'HTTP requests by route, method and status.', labelNames: ['route', 'method', 'status'] as const, registers });
  const latency = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'HTTP request latency by route and status.',
    labelNames: ['route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const tokens = new Counter({ name: 'gatehouse_tokens_issued_total', help: 'Successful token responses by grant type.', labelNames: ['grant_type'] as const, registers });
  const tokenErrors = new Counter({ name: 'gatehouse_token_errors_total', help: 'Refused token, introspection and revocation requests by OAuth error code.', labelNames: ['error'] as const, registers });
  const logins = new Counter({ name: 'gatehouse_logins_total', help: 'Password sign-in outcomes.', labelNames: ['outcome'] as const, registers });
  const secondFactor = new Counter({ name: 'gatehouse_second_factor_total', help: 'Second-factor events by event and outcome.', labelNames: ['event', 'outcome'] as const, registers });
  const limited = new Counter({ name: 'gatehouse_rate_limited_total', help: 'Requests refused by a rate limit, by endpoint class and key (ip or client).', labelNames: ['class', 'key'] as const, registers });
  const auditEvents = new Counter({ name: 'gatehouse_audit_events_total', help: 'Audit events recorded, by type.', labelNames: ['type'] as const, registers });
  const auditWritten = new Counter({ name: 'gatehouse_audit_events_written_total', help: 'Audit events appended to the chain.', registers });
  const auditDropped = new Counter({ name: 'gatehouse_audit_events_dropped_total', help: 'Audit events dropped because the queue was full (database unreachable for long).', registers });
  const auditFailures = new Counter({ name: 'gatehouse_audit_flush_failures_total', help: 'Failed audit batch writes (retried).', registers });
  const alerts = new Counter({ name: 'gatehouse_alerts_total', help: 'Security alerts raised, by rule.', labelNames: ['rule'] as const, registers });
  const deliveries = new Counter({ name: 'gatehouse_alert_deliveries_total', help: 'Alert webhook delivery attempts by outcome.', labelNames: ['outcome'] as const, registers });
  const logouts = new Counter({ name: 'gatehouse_backchannel_logouts_total', help: 'Back-channel logout deliveries by outcome (delivered, retry, failed: given up).', labelNames: ['outcome'] as const, registers });
  const forgedCertificates = new Counter({ name: 'gatehouse_client_certificate_header_rejected_total', help: 'Client-certificate headers ignored because the sender is not a trusted proxy.', registers });

  let sources: MetricSources = {};
  new Gauge({
    name: 'gatehouse_audit_queue_depth',
    help: 'Audit events waiting to be written.',
    registers,
    collect() {
      this.set(sources.auditQueueDepth?.() ?? 0);
    },
  });
  new Gauge({
    name: 'gatehouse_db_pool_connections',
    help: 'PostgreSQL pool connections by state (total, idle, waiting clients); absent on the embedded database.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const stats = sources.poolStats?.();
      if (!stats) return;
      this.set({ state: 'total' }, stats.total);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
    },
  });
  const keyAge = new Gauge({ name: 'gatehouse_signing_key_age_seconds', help: 'Age of the active signing key per algorithm.', labelNames: ['alg'] as const, registers });
  new Gauge({
    name: 'gatehouse_signing_key_rotation_due_seconds',
    help: 'Seconds until the active signing key per algorithm is due to be replaced.',
    labelNames: ['alg'] as const,
    registers,
    async collect() {
      const status = await sources.keyStatus?.().catch(() => undefined);
      if (!status) return;
      this.reset();
      keyAge.reset();
      for (const key of status) {
        this.set({ alg: key.alg }, key.secondsToRotation);
        keyAge.set({ alg: key.alg }, key.ageSeconds);
      }
    },
  });

  return {
    registry,
    setSources(next: MetricSources) {
      sources = next;
    },
    observeRequest(route: string, method: string, status: number, seconds: number) {
      const code = String(status);
      requests.inc({ route, method, status: code });
      latency.observe({ route, status: code }, seconds);
    },
    /** The one place audit events become business metrics. */
    observeAudit(event: AuditedEvent) {
      auditEvents.inc({ type: event.type });
      if (event.type === 'token.issued') tokens.inc({ grant_type: String(event.detail.grantType ?? 'unknown') });
      else if (event.type === 'token.refused') tokenErrors.inc({ error: String(event.detail.error ?? 'unknown') });
      else if (event.type.startsWith('login.')) logins.inc({ outcome: event.type === 'login.failure' ? `failure_${String(event.detail.reason ?? 'unknown')}` : event.type.slice('login.'.length) });
      else if (event.type.startsWith('mfa.')) secondFactor.inc({ event: event.type.slice('mfa.'.length), outcome: event.outcome ?? 'none' });
    },
    rateLimited: (cls: string, key: string) => limited.inc({ class: cls, key }),
    auditWritten: (count: number) => auditWritten.inc(count),
    auditDropped: (count: number) => auditDropped.inc(count),
    auditFlushFailed: () => auditFailures.inc(),
    alertRaised: (rule: string) => alerts.inc({ rule }),
    alertDelivery: (outcome: string) => deliveries.inc({ outcome }),
    certificateHeaderRejected: () => forgedCertificates.inc(),
    backchannelLogout: (outcome: 'delivered' | 'retry' | 'failed') => logouts.inc({ outcome }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
