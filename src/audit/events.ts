/**
 * The audit seam every service and route writes security events through
 * (DESIGN invariant 5). `record` never blocks and never throws: the sink
 * buffers, batches and hash-chains rows (src/audit/), and a request must
 * not fail or slow down because auditing is busy.
 *
 * Types are part of the contract: alert rules (src/audit/alerts.ts) match
 * `login.failure`, `mfa.failed`, `client.authentication_failed`,
 * `token.reuse_detected`, `key.revoked` and any event whose actor is
 * `operator` or `admin:…`; metrics (src/observability/metrics.ts) count `token.issued`,
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

/**
 * Who asks a service to change state. Every state-changing service method
 * takes one and records its own audit event with it (invariant 5), so routes,
 * CLI commands and the admin API never write audit events themselves.
 */
export type Actor =
  /** The operator's terminal: the CLI in-process, or through the running server's local admin socket. */
  | { kind: 'operator' }
  /** An admin API caller: a service client, or a user signed in through a first-party client. */
  | { kind: 'admin'; clientId: string; userId?: string }
  /** A user acting on their own account (sign-in, factors, the account page). */
  | { kind: 'user'; userId: string }
  /** A client acting through the protocol (registration, token requests). */
  | { kind: 'client'; clientId: string }
  /** Schedules and the provider itself (key rotation, cleanup). */
  | { kind: 'system' };

export const operator: Actor = { kind: 'operator' };
export const system: Actor = { kind: 'system' };

/** The audit row's actor column: `operator`, `system`, an account id, a client id, or `admin:<client>[/<user>]`. */
export function actorLabel(actor: Actor): string {
  switch (actor.kind) {
    case 'operator':
    case 'system':
      return actor.kind;
    case 'admin':
      return `admin:${actor.clientId}${actor.userId ? `/${actor.userId}` : ''}`;
    case 'user':
      return actor.userId;
    case 'client':
      return actor.clientId;
  }
}

/**
 * What the request context (src/audit/log.ts fills in the request id and IP)
 * cannot know: the client an interaction serves.
 */
export interface EventOrigin {
  clientId?: string | undefined;
}

/** How an actor reached a service, for `detail.via` (kept from the CLI-only days: `cli`, `sign-in`). */
export function viaOf(actor: Actor): string {
  switch (actor.kind) {
    case 'operator':
      return 'cli';
    case 'user':
      return 'sign-in';
    default:
      return actor.kind;
  }
}

/** An event recorded on behalf of `actor`; a service's one way of writing to the trail. */
export function recordAs(audit: Audit, actor: Actor, event: Omit<AuditEvent, 'actor'>): void {
  audit.record({ outcome: 'success', ...event, actor: actorLabel(actor) });
}

export interface Audit {
  record(event: AuditEvent): void;
}

/** Used where no sink is wired (unit tests, tools); records nothing. */
export const noAudit: Audit = { record() {} };
