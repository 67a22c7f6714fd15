/** /admin/v1/users/{id}/sessions and /grants: thin handlers over the sessions service (issue 14, issue 18). */
import type { Services } from '../../services.js';
import type { GrantView, SessionView } from '../../sessions/sessions.js';
import { operation, type Operation } from '../operation.js';
import { AdminProblem } from '../problem.js';
import { grantListSchema, grantParams, idParams, sessionListSchema, sessionParams, signOutSchema } from '../schemas.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const sessionJson = (s: SessionView) => ({ id: s.id, signed_in_at: iso(s.signedInAt), acr: s.acr, amr: s.amr, clients: s.clients, expires_at: iso(s.expiresAt) });
const grantJson = (g: GrantView) => ({ id: g.id, client_id: g.clientId, scope: g.scope, resources: g.resources, created_at: iso(g.createdAt), expires_at: iso(g.expiresAt) });

export function sessionOperations(services: Pick<Services, 'accounts' | 'sessions'>): Operation[] {
  const { accounts, sessions } = services;
  // Object-level authorisation: the session or grant must be this user's, else 404 (no oracle for other users' ids).
  const userId = async (id: string) => {
    const account = await accounts.findById(id);
    if (!account) throw new AdminProblem(404, 'There is no user with this id.');
    return account.id;
  };
  return [
    operation({
      id: 'listUserSessions', method: 'GET', path: '/users/{id}/sessions', tag: 'users', scope: 'admin:users.read', summary: 'List a user\'s sign-in sessions', params: idParams,
      responses: { 200: { description: 'The user\'s live sessions, newest first.', schema: sessionListSchema } },
      async handle({ params }) {
        return { status: 200, body: { items: (await sessions.listSessions(await userId(params.id))).map(sessionJson) } };
      },
    }),
    operation({
      id: 'revokeUserSessions', method: 'DELETE', path: '/users/{id}/sessions', tag: 'users', scope: 'admin:users.write',
      summary: 'Sign out everywhere: end every session, revoke every grant and token, send back-channel logout', params: idParams, audited: true,
      responses: { 200: { description: 'What ended.', schema: signOutSchema } },
      async handle({ params, caller }) {
        return { status: 200, body: await sessions.signOutEverywhere(caller.actor, await userId(params.id), 'sign_out_everywhere') };
      },
    }),
    operation({
      id: 'revokeUserSession', method: 'DELETE', path: '/users/{id}/sessions/{sid}', tag: 'users', scope: 'admin:users.write',
      summary: 'End one session and revoke the grants it holds (back-channel logout to its clients)', params: sessionParams, audited: true,
      responses: { 204: { description: 'Ended.' } },
      async handle({ params, caller }) {
        if (!(await sessions.revokeSession(caller.actor, await userId(params.id), params.sid))) throw new AdminProblem(404, 'This user has no such session.');
        return { status: 204 };
      },
    }),
    operation({
      id: 'listUserGrants', method: 'GET', path: '/users/{id}/grants', tag: 'users', scope: 'admin:users.read', summary: 'List what a user has allowed clients', params: idParams,
      responses: { 200: { description: 'The user\'s live grants.', schema: grantListSchema } },
      async handle({ params }) {
        return { status: 200, body: { items: (await sessions.listGrants(await userId(params.id))).map(grantJson) } };
      },
    }),
    operation({
      id: 'revokeUserGrant', method: 'DELETE', path: '/users/{id}/grants/{grantId}', tag: 'users', scope: 'admin:users.write',
      summary: 'Revoke one grant with every token issued under it', params: grantParams, audited: true,
      responses: { 204: { description: 'Revoked.' } },
      async handle({ params, caller }) {
        if (!(await sessions.revokeGrant(caller.actor, await userId(params.id), params.grantId))) throw new AdminProblem(404, 'This user has no such grant.');
        return { status: 204 };
      },
    }),
  ];
}
