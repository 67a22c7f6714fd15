/**
 * `gatehouse users verify-email`: send a verification link to an account's
 * address (`--send`), or record that the operator checked it (`--mark`).
 * The link is delivered by the running server's mail worker (src/mail/).
 */
import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import { MailError } from '../mail/verification.js';
import { withContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, out, printJson } from './output.js';

async function verifyEmail(user: string, options: { send?: boolean; mark?: boolean; json?: boolean }): Promise<void> {
  if (options.send === options.mark) throw new CliError('choose one: --send (email a link) or --mark (you checked the address yourself)');
  await withContext(async ({ services }) => {
    const account = await services.accounts.find(user);
    if (!account) throw new CliError(`no such account: ${user}`);
    if (!account.email) throw new CliError(`${account.username} has no email address: set one first`);
    if (options.mark) {
      await services.accounts.updateProfile(operator, account.id, { emailVerified: true });
      if (options.json) return printJson({ id: account.id, email: account.email, email_verified: true });
      return out(`marked ${account.email} verified for ${account.username} (${account.id})`);
    }
    const sent = await services.emailVerification.send(operator, account.id).catch((error: unknown) => {
      if (error instanceof MailError) throw new CliError(`cannot send: ${error.message}`);
      throw error;
    });
    if (options.json) return printJson({ id: account.id, sent_to: sent.sentTo, expires_at: isoDate(sent.expiresAt) });
    out(`verification link queued for ${sent.sentTo} (${account.username}); it works until ${isoDate(sent.expiresAt)}`);
  });
}

export function registerEmailCommands(users: Command): void {
  users
    .command('verify-email')
    .description("verify an account's email address: email it a link, or mark it verified")
    .argument('<user>', 'account id, username or email')
    .option('--send', 'email a single-use verification link (earlier links stop working)')
    .option('--mark', 'mark the address verified without a message (you checked it yourself)')
    .option('--json', 'print a JSON object')
    .addHelpText('after', `
The account's email_verified claim turns true when the user confirms the link
(or at once with --mark). Sending needs GATEHOUSE_SMTP_URL; the running
server's mail worker delivers the message.

Examples:
  $ gatehouse users verify-email alice --send
  $ gatehouse users verify-email alice@example.com --mark --json`)
    .action(verifyEmail);
}
