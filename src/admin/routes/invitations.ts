/** /admin/v1/invitations: an operator invites an address to sign up (GATEHOUSE_SIGNUP=invite, src/signup/invitations.ts). */
import { z } from 'zod';

import type { Services } from '../../services.js';
import { InvitationError } from '../../signup/invitations.js';
import { operation, type Operation } from '../operation.js';
import { AdminProblem, problemTypes } from '../problem.js';

export const invitationCreateBody = z
  .strictObject({ email: z.string().min(3).max(254).describe('The address invited; the account created through the link has it, verified.') })
  .meta({ id: 'InvitationCreate' });

export const createdInvitationSchema = z
  .strictObject({
    id: z.string(),
    email: z.string(),
    expires_at: z.string().describe('When the link stops working (RFC 3339); it also stops once used.'),
    link: z.string().describe('The single-use sign-up link. Shown only in this answer: Gatehouse keeps only its hash.'),
    emailed: z.boolean().describe('Whether the link was emailed to the address (false when Gatehouse sends no mail: hand it over yourself).'),
  })
  .meta({ id: 'CreatedInvitation' });

export function invitationOperations(services: Pick<Services, 'invitations'>): Operation[] {
  return [
    operation({
      id: 'createInvitation', method: 'POST', path: '/invitations', tag: 'users', scope: 'admin:users.write',
      summary: 'Invite an address to create an account (sign-up by invitation)', body: invitationCreateBody, audited: true, idempotent: true, secretFields: ['link'],
      responses: {
        201: { description: 'The invitation, with its link (shown once).', schema: createdInvitationSchema },
        409: { description: 'Sign-up by invitation is off, or an account with this address exists.' },
      },
      async handle({ body, caller }) {
        try {
          const created = await services.invitations.create(caller.actor, body.email);
          return { status: 201, body: { id: created.id, email: created.email, expires_at: created.expiresAt.toISOString(), link: created.link, emailed: created.emailed } };
        } catch (error) {
          if (!(error instanceof InvitationError)) throw error;
          if (error.kind === 'invalid') throw new AdminProblem(400, 'The email field is not an email address.', { type: problemTypes.validation, fields: ['body.email'] });
          throw new AdminProblem(409, error.kind === 'off' ? 'Sign-up by invitation is off: GATEHOUSE_SIGNUP is not `invite`.' : 'An account with this email address exists.', { type: problemTypes.conflict });
        }
      },
    }),
  ];
}
