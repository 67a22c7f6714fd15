/** /admin/v1/stats: the roll-ups the console's overview charts (issue 16). */
import type { Services } from '../../services.js';
import { operation, type Operation } from '../operation.js';
import { statsQuery, statsSchema } from '../audit-schemas.js';

export function statsOperations(services: Pick<Services, 'rollups' | 'sessions'>): Operation[] {
  const { rollups, sessions } = services;
  return [
    operation({
      id: 'getStats', method: 'GET', path: '/stats', tag: 'stats', scope: 'admin:stats.read',
      summary: 'Security signals per time bucket, summed over every node: tokens issued by grant type and client, sign-ins, lockouts, rate limiting, invalid client authentication, alerts',
      query: statsQuery,
      responses: { 200: { description: 'The series of the range (1h: per minute, 24h: per 10 minutes, 7d: per hour); counts lag by at most the flush interval.', schema: statsSchema } },
      async handle({ query }) {
        const [report, activeSessions] = await Promise.all([rollups.report(query.range), sessions.countSignedIn()]);
        return {
          status: 200,
          body: {
            range: report.range,
            step_seconds: report.stepSeconds,
            from: report.from.toISOString(),
            until: report.until.toISOString(),
            buckets: report.buckets.map((b) => b.toISOString()),
            series: report.series.map((s) => ({ metric: s.metric, label: s.label, client_id: s.clientId, counts: s.counts, total: s.total })),
            totals: report.totals,
            active_sessions: activeSessions,
          },
        };
      },
    }),
  ];
}
