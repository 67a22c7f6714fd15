#!/usr/bin/env node
/**
 * `gatehouse`: the operator command. Each command group lives in src/cli/;
 * actions call services, never SQL. Errors print as `gatehouse: <message>` and
 * exit 1 (2 for configuration), with a stack only at GATEHOUSE_LOG_LEVEL=debug.
 */
import { readFileSync } from 'node:fs';

import { Command, CommanderError } from 'commander';

import { registerAuditCommands } from './cli/audit.js';
import { registerClientCommands } from './cli/clients.js';
import { describeError, isDebug } from './cli/errors.js';
import { registerIatCommands } from './cli/iat.js';
import { registerKeyCommands } from './cli/keys.js';
import { registerMigrateCommand } from './cli/migrate.js';
import { registerPolicyCommands } from './cli/policies.js';
import { registerResourceCommands } from './cli/resources.js';
import { registerUserCommands } from './cli/users.js';

/** src/cli.ts (tsx) and dist/cli.js (built) both sit one level below the package root. */
function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function buildProgram(): Command {
  const program = new Command('gatehouse')
    .description('Operate a Gatehouse identity provider: database, users, clients, resource servers and keys.')
    .version(packageVersion())
    // Set before the subcommands are created: `.command()` copies these settings to each.
    .exitOverride()
    .configureOutput({
      outputError: (message, write) => write(`gatehouse: ${message.replace(/^error: /, '')}`),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `
Configuration comes from the same environment variables as the server
(GATEHOUSE_*, DATABASE_URL; see README.md). Pending migrations are applied
before any command runs.

Examples:
  $ gatehouse users add alice --email alice@example.com
  $ gatehouse clients add --type confidential --name "My app" --redirect-uri https://app.example.com/callback
  $ gatehouse users list --json`);

  registerMigrateCommand(program);
  registerUserCommands(program);
  registerClientCommands(program);
  registerIatCommands(program);
  registerPolicyCommands(program);
  registerResourceCommands(program);
  registerKeyCommands(program);
  registerAuditCommands(program);
  return program;
}

/** `gatehouse users list | head` closes the pipe early; that is the reader's choice, not an error. */
function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

async function main(): Promise<void> {
  exitQuietlyOnClosedPipe(process.stdout);
  exitQuietlyOnClosedPipe(process.stderr);
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    // Commander has already printed its own message (or the help).
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    const { message, exitCode } = describeError(error);
    process.stderr.write(`gatehouse: ${message}\n`);
    if (isDebug()) {
      for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) process.stderr.write(`${cause.stack ?? cause.message}\n`);
    }
    process.exitCode = exitCode;
  }
}

await main();
