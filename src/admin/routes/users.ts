/** /admin/v1/users: thin handlers over the account and second-factor services. */
import type { Account } from '../../accounts/accounts.js';
import { MailError } from '../../mail/verification.js';
import type { Services } from '../../services.js';
import { updateIfMatch, versionTag } from '../etag.js';
import { operation, type Operation } from '../operation.js';
import { createdKey, page } from '../pagination.js';
import { bearerChallenge } from '../bearer.js';
import { AdminProblem, problemTypes } from '../problem.js';
import { emailVerificationSchema, idParams, lockoutSchema, recoveryCodesSchema, newUserBody, pageOf, passwordBody, secondFactorSchema, userListQuery, userPatchBody, userSchema } from '../schemas.js';

export function userJson(a: Account) {
  return {
    id: a.id,
    username: a.username,
    email: a.email,
    email_verified: a.emailVerified,
    name: a.name,
    given_name: a.givenName,
    family_name: a.familyName,
    disabled: a.disabled,
    admin: a.admin,
    created_at: a.createdAt.toISOString(),
    updated_at: a.updatedAt.toISOString(),
  };
}

const iso = (d: Date | undefined) => (d ? d.toISOString() : null);

export function userOperations(services: Pick<Services, 'accounts' | 'mfa' | 'emailVerification'>): Operation[] {
  const { accounts, mfa, emailVerification } = services;
  // Object-level authorisation: an id names exactly one account; a username or email in its place is not looked up.
  const byId = async (id: string) => {
    const account = await accounts.findById(id);
    if (!account) throw new AdminProblem(404, 'There is no user with this id.');
    return account;
  };
  const one = { 200: { description: 'The user.', schema: userSchema } };
  return [
    operation({
      id: 'listUsers', method: 'GET', path: '/users', tag: 'users', scope: 'admin:users.read', summary: 'List users', query: userListQuery,
      responses: { 200: { description: 'A page of users.', schema: pageOf(userSchema, 'UserPage') } },
      async handle({ query }) {
        const q = query.q?.toLowerCase();
        const all = (await accounts.list())
          .filter((a) => (query.disabled === undefined || a.disabled === query.disabled) && (!q || a.username.toLowerCase().includes(q) || (a.email ?? '').toLowerCase().includes(q)))
          .sort((a, b) => createdKey(a.createdAt, a.id).localeCompare(createdKey(b.createdAt, b.id)));
        return { status: 200, body: page(all, (a) => createdKey(a.createdAt, a.id), query.cursor, query.limit, userJson) };
      },
    }),
    operation({
      id: 'createUser', method: 'POST', path: '/users', tag: 'users', scope: 'admin:users.write', summary: 'Create a user', body: newUserBody, audited: true, idempotent: true,
      responses: { 201: { description: 'The new user.', schema: userSchema } },
      async handle({ body, caller }) {
        const account = await accounts.create(caller.actor, {
          username: body.username,
          password: body.password,
          email: body.email,
          emailVerified: body.email_verified ?? false,
          name: body.name,
          givenName: body.given_name,
          familyName: body.family_name,
        });
        const json = userJson(account);
        return { status: 201, body: json, etag: versionTag(account), headers: { Location: `/admin/v1/users/${encodeURIComponent(account.id)}` } };
      },
    }),
    operation({
      id: 'getUser', method: 'GET', path: '/users/{id}', tag: 'users', scope: 'admin:users.read', summary: 'Read a user', params: idParams, responses: one,
      async handle({ params }) {
        const account = await byId(params.id);
        return { status: 200, body: userJson(account), etag: versionTag(account) };
      },
    }),
    operation({
      id: 'updateUser', method: 'PATCH', path: '/users/{id}', tag: 'users', scope: 'admin:users.write', summary: 'Change profile fields or the admin marker (If-Match required)',
      params: idParams, body: userPatchBody, etag: true, audited: true, responses: one,
      async handle({ params, body, caller, ifMatch }) {
        const current = await byId(params.id);
        // The marker is the administrator role: setting it is a role assignment, which users.write alone must not allow (a user manager would make itself administrator).
        if (body.admin !== undefined && !caller.scopes.has('admin:roles.write')) {
          throw new AdminProblem(403, 'Changing admin needs the scope admin:roles.write.', {
            type: problemTypes.scope,
            challenge: bearerChallenge({ code: 'insufficient_scope', description: 'the access token lacks the scope this change needs', extra: 'scope="admin:roles.write"' }),
          });
        }
        const { admin, email, email_verified: emailVerified, name, given_name: givenName, family_name: familyName } = body;
        const profile = Object.fromEntries(Object.entries({ email, emailVerified, name, givenName, familyName }).filter(([, v]) => v !== undefined));
        const change = { ...(Object.keys(profile).length ? { profile } : {}), ...(admin !== undefined && admin !== current.admin ? { admin } : {}) };
        // Compare-and-set on the version (src/accounts/profile.ts): of two writers holding one ETag, exactly one wins, the other gets 412.
        const account = await updateIfMatch(ifMatch, current, async (expected) => {
          if (!change.profile && change.admin === undefined) return current;
          return accounts.update(caller.actor, current.id, change, expected);
        });
        return { status: 200, body: userJson(account), etag: versionTag(account) };
      },
    }),
    operation({
      id: 'disableUser', method: 'POST', path: '/users/{id}/disable', tag: 'users', scope: 'admin:users.write', summary: 'Disable a user', params: idParams, audited: true, responses: one,
      async handle({ params, caller }) {
        await byId(params.id);
        return { status: 200, body: userJson(await accounts.setDisabled(caller.actor, params.id, true)) };
      },
    }),
    operation({
      id: 'enableUser', method: 'POST', path: '/users/{id}/enable', tag: 'users', scope: 'admin:users.write', summary: 'Enable a user', params: idParams, audited: true, responses: one,
      async handle({ params, caller }) {
        await byId(params.id);
        return { status: 200, body: userJson(await accounts.setDisabled(caller.actor, params.id, false)) };
      },
    }),
    operation({
      id: 'setUserPassword', method: 'PUT', path: '/users/{id}/password', tag: 'users', scope: 'admin:users.write', summary: 'Set a password (never returned)',
      params: idParams, body: passwordBody, audited: true, responses: { 204: { description: 'The password was set.' } },
      async handle({ params, body, caller }) {
        await byId(params.id);
        await accounts.setPassword(caller.actor, params.id, body.password);
        return { status: 204 };
      },
    }),
    operation({
      id: 'unlockUser', method: 'POST', path: '/users/{id}/unlock', tag: 'users', scope: 'admin:users.write', summary: 'Clear a lockout', params: idParams, audited: true,
      responses: { 200: { description: 'Whether there was a lockout to clear.', schema: lockoutSchema } },
      async handle({ params, caller }) {
        await byId(params.id);
        const { cleared } = await accounts.unlock(caller.actor, params.id);
        return { status: 200, body: { cleared } };
      },
    }),
    operation({
      id: 'sendUserEmailVerification', method: 'POST', path: '/users/{id}/email-verification', tag: 'users', scope: 'admin:users.write',
      summary: 'Email a verification link to the user\'s address (earlier links stop working)', params: idParams, audited: true,
      responses: { 202: { description: 'The message is queued; the user\'s `email_verified` turns true when they confirm.', schema: emailVerificationSchema } },
      async handle({ params, caller }) {
        const account = await byId(params.id);
        if (!account.email) throw new AdminProblem(409, 'This user has no email address.');
        try {
          const sent = await emailVerification.send(caller.actor, account.id);
          return { status: 202, body: { sent_to: sent.sentTo, expires_at: sent.expiresAt.toISOString() } };
        } catch (error) {
          if (error instanceof MailError) throw new AdminProblem(409, 'Gatehouse sends no mail: GATEHOUSE_SMTP_URL is not set.');
          throw error;
        }
      },
    }),
    operation({
      id: 'getUserSecondFactor', method: 'GET', path: '/users/{id}/second-factor', tag: 'users', scope: 'admin:users.read', summary: 'Second-factor status', params: idParams,
      responses: { 200: { description: 'Enrolment and recovery codes left (never the seed or codes).', schema: secondFactorSchema } },
      async handle({ params }) {
        const s = await mfa.status((await byId(params.id)).id);
        return { status: 200, body: { enrolled: s.enrolled, enrolled_at: iso(s.enrolledAt), last_used_at: iso(s.lastUsedAt), recovery_codes_left: s.recoveryCodesLeft } };
      },
    }),
    operation({
      id: 'resetUserSecondFactor', method: 'DELETE', path: '/users/{id}/second-factor', tag: 'users', scope: 'admin:users.write', summary: 'Reset the second factor (the user enrols again)',
      params: idParams, audited: true, responses: { 204: { description: 'Reset.' } },
      async handle({ params, caller }) {
        if (!(await mfa.reset(caller.actor, (await byId(params.id)).id))) throw new AdminProblem(404, 'This user has no second factor.');
        return { status: 204 };
      },
    }),
    operation({
      id: 'resetUserRecoveryCodes', method: 'POST', path: '/users/{id}/recovery-codes', tag: 'users', scope: 'admin:users.write', summary: 'Replace all recovery codes (the new ones are shown once)',
      params: idParams, audited: true, idempotent: true, secretFields: ['recovery_codes'], responses: { 201: { description: 'The new codes, shown once, for handing to the user.', schema: recoveryCodesSchema } },
      async handle({ params, caller }) {
        const codes = await mfa.regenerateRecoveryCodes(caller.actor, (await byId(params.id)).id);
        if (!codes) throw new AdminProblem(404, 'This user has no second factor.');
        return { status: 201, body: { recovery_codes: codes } };
      },
    }),
  ];
}
