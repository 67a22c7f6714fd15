/**
 * `gatehouse users invite <email>`: an invitation to sign up (GATEHOUSE_SIGNUP=invite,
 * src/signup/invitations.ts). The link is printed once (Gatehouse keeps only its
 * hash) and, with mail on, emailed by the running server's mail worker.
 */
import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import { InvitationError } from '../signup/invitations.js';
import { withContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, out, printJson } from './output.js';

async function invite(email: string, options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const created = await services.invitations.create(operator, email).catch((error: unknown) => {
      if (error instanceof InvitationError) throw new CliError(`cannot invite: ${error.message}`);
      throw error;
    });
    if (options.json) return printJson({ id: created.id, email: created.email, expires_at: isoDate(created.expiresAt), link: created.link, emailed: created.emailed });
    out(`invitation for ${created.email} (${created.id}), valid until ${isoDate(created.expiresAt)}${created.emailed ? '; emailed' : '; not emailed (no GATEHOUSE_SMTP_URL): hand the link over yourself'}`);
    out(`link (shown once): ${created.link}`);
  });
}

export function registerInvitationCommands(users: Command): void {
  users
    .command('invite')
    .description('invite an email address to create an account (needs GATEHOUSE_SIGNUP=invite)')
    .argument('<email>', 'the address invited; the account gets it, verified')
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
The single-use link expires after GATEHOUSE_INVITATION_TTL and is printed only
now. With GATEHOUSE_SMTP_URL the running server's mail worker also emails it.

Examples:
  $ gatehouse users invite carol@example.com
  $ gatehouse users invite carol@example.com --json`)
    .action(invite);
}
