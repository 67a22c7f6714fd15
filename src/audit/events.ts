/**
 * The audit seam every service and route writes security events through
 * (DESIGN invariant 5). `record` never blocks and never throws: the sink
 * buffers, batches and hash-chains rows (src/audit/), and a request must
 * not fail or slow down because auditing is busy.
 *
 * Types are part of the contract: alert rules (src/audit/alerts.ts) match
 * `login.failure`, `mfa.failed`, `client.authentication_failed`,
 * `token.reuse_detected`, `key.revoked` and any event whose actor is
 * `operator`; metrics (src/observability/metrics.ts) count `token.issued`,
 * `token.refused`, `login.*` and `mfa.*`. Protocol events are recorded in one
 * place, src/oidc/audit-events.ts. A request's id and client IP are
 * filled in from the request context when an event omits them.
 */
export interface AuditEvent {
  /** Dotted name: `login.success`, `login.failure`, `mfa.enrolled`, `token.issued`, `key.revoked`, … */
  type: string;
  outcome?: 'success' | 'failure';
  /** Who acted: an account id, a client id, or `operator` for the CLI, `system` for schedules. */
  actor?: string;
  /** What it is about: an account id, a client id, a kid … */
  subject?: string;
  clientId?: string;
  ip?: string;
  requestId?: string;
  /** Extra facts; never a secret, token, code or password. */
  detail?: Record<string, unknown>;
}

export interface Audit {
  record(event: AuditEvent): void;
}

/** Used where no sink is wired (unit tests, tools); records nothing. */
export const noAudit: Audit = { record() {} };
