/** `gatehouse admin …`: the first administrator, for when the start-up log's link is out of reach. */
import type { Command } from 'commander';

import { withContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, note, printFields, printJson } from './output.js';

async function setupLink(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ config, services }) => {
    const link = await services.setup.issueLink();
    if (!link) throw new CliError('an administrator already exists: manage administrators with `gatehouse users set-admin`');
    const url = `${config.issuer}/setup?token=${link.token}`;
    if (options.json) return printJson({ url, expires_at: isoDate(link.expiresAt) });
    printFields([
      ['url', url],
      ['expires', isoDate(link.expiresAt)],
    ]);
    note('open it in a browser to create the first administrator with a password and a second factor; it works once, and Gatehouse keeps only its hash');
  });
}

export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description('the first administrator of a new installation');
  admin
    .command('setup-link')
    .description('print a one-time link (valid one hour) that creates the first administrator in a browser; refused once one exists')
    .option('--json', 'print the link as JSON')
    .action(setupLink);
}
