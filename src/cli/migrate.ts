import type { Command } from 'commander';

import { migrationLabel, withContext } from './context.js';
import { out } from './output.js';

async function run(): Promise<void> {
  await withContext(
    async ({ schema }) => {
      const applied = schema.applied.length;
      out(`schema version ${schema.current} (${applied === 0 ? 'up to date' : `${applied} migration${applied === 1 ? '' : 's'} applied`})`);
    },
    { onMigration: (m) => out(`applying ${migrationLabel(m)}`) },
  );
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations and print the schema version')
    .addHelpText('after', `
Every other command also applies pending migrations first; run this one
explicitly before rolling out a new version to many nodes.

Example:
  $ DATABASE_URL=postgres://gatehouse@db/gatehouse gatehouse migrate`)
    .action(run);
}
