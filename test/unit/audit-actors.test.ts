/**
 * Who acted, as the audit row and the alert rules see it: the admin-action
 * alert covers the operator's terminal and admin API callers alike, and
 * nothing else (a user, a client, the schedules).
 */
import { describe, expect, it } from 'vitest';

import { defaultAlertRules } from '../../src/audit/alerts.js';
import { actorLabel, type Actor } from '../../src/audit/events.js';
import type { RecordedEvent } from '../../src/audit/log.js';

const event = (actor: string | null): RecordedEvent => ({
  occurredAt: new Date(),
  type: 'client.disabled',
  outcome: 'success',
  actor,
  subject: 'c-1',
  clientId: null,
  ip: null,
  requestId: null,
  node: 'test',
  detail: {},
});

describe('actors', () => {
  const adminAction = defaultAlertRules({ loginFailures: { count: 10, windowSeconds: 300 }, invalidClient: { count: 10, windowSeconds: 60 } }).find((r) => r.name === 'admin_action')!;

  it('labels every kind of actor for the audit row', () => {
    const labels = ([
      { kind: 'operator' },
      { kind: 'system' },
      { kind: 'admin', clientId: 'console' },
      { kind: 'admin', clientId: 'console', userId: 'u-1' },
      { kind: 'user', userId: 'u-2' },
      { kind: 'client', clientId: 'c-2' },
    ] satisfies Actor[]).map(actorLabel);
    expect(labels).toEqual(['operator', 'system', 'admin:console', 'admin:console/u-1', 'u-2', 'c-2']);
  });

  it('raises the admin-action alert for the operator and admin callers only', () => {
    expect(adminAction.matches(event('operator'))).toBe(true);
    expect(adminAction.matches(event('admin:console'))).toBe(true);
    expect(adminAction.matches(event('admin:console/u-1'))).toBe(true);
    for (const other of ['system', 'u-2', 'c-2', 'administrator', null]) expect(adminAction.matches(event(other)), String(other)).toBe(false);
    expect(adminAction.summary(event('admin:console/u-1'), 1)).toBe('admin console/u-1 action client.disabled on c-1');
    expect(adminAction.summary(event('operator'), 1)).toBe('operator action client.disabled on c-1');
  });
});
