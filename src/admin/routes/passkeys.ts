/** /admin/v1/users/{id}/passkeys: an operator lists, renames and removes a user's passkeys (never their key material). */
import type { Passkey } from '../../passkeys/passkeys.js';
import type { Services } from '../../services.js';
import { operation, type Operation } from '../operation.js';
import { AdminProblem } from '../problem.js';
import { idParams, passkeyListSchema, passkeyParams, passkeyPatchBody, passkeySchema } from '../schemas.js';

export function passkeyJson(p: Passkey) {
  return {
    id: p.id,
    name: p.name,
    device_type: p.deviceType,
    backed_up: p.backedUp,
    transports: p.transports,
    created_at: p.createdAt.toISOString(),
    last_used_at: p.lastUsedAt ? p.lastUsedAt.toISOString() : null,
  };
}

export function passkeyOperations(services: Pick<Services, 'accounts' | 'passkeys'>): Operation[] {
  const { accounts, passkeys } = services;
  const userId = async (id: string) => {
    if (!(await accounts.findById(id))) throw new AdminProblem(404, 'There is no user with this id.');
    return id;
  };
  const missing = () => new AdminProblem(404, 'This user has no passkey with this id.');
  return [
    operation({
      id: 'listUserPasskeys', method: 'GET', path: '/users/{id}/passkeys', tag: 'users', scope: 'admin:users.read', summary: 'List a user\'s passkeys', params: idParams,
      responses: { 200: { description: 'The user\'s passkeys, oldest first.', schema: passkeyListSchema } },
      async handle({ params }) {
        return { status: 200, body: { items: (await passkeys.list(await userId(params.id))).map(passkeyJson) } };
      },
    }),
    operation({
      id: 'renameUserPasskey', method: 'PATCH', path: '/users/{id}/passkeys/{passkeyId}', tag: 'users', scope: 'admin:users.write', summary: 'Rename a passkey',
      params: passkeyParams, body: passkeyPatchBody, audited: true, responses: { 200: { description: 'The passkey.', schema: passkeySchema } },
      async handle({ params, body, caller }) {
        const id = await userId(params.id);
        if (!(await passkeys.rename(caller.actor, id, params.passkeyId, body.name))) throw missing();
        const renamed = (await passkeys.list(id)).find((p) => p.id === params.passkeyId);
        if (!renamed) throw missing();
        return { status: 200, body: passkeyJson(renamed) };
      },
    }),
    operation({
      id: 'removeUserPasskey', method: 'DELETE', path: '/users/{id}/passkeys/{passkeyId}', tag: 'users', scope: 'admin:users.write',
      summary: 'Remove a passkey (it no longer signs in; sessions it started stay until signed out)', params: passkeyParams, audited: true,
      responses: { 204: { description: 'Removed.' } },
      async handle({ params, caller }) {
        if (!(await passkeys.remove(caller.actor, await userId(params.id), params.passkeyId))) throw missing();
        return { status: 204 };
      },
    }),
  ];
}
