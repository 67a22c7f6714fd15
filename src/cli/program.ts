/**
 * The `gatehouse` program: every command group (src/cli/*.ts) on one
 * commander program, and `runCli`, which runs one command line against a
 * given terminal (src/cli/io.ts) and returns its exit status. It never exits
 * the process and never reads the process's env or streams, so tests run
 * commands in-process; src/cli.ts binds the real terminal.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Command, CommanderError } from 'commander';

import { registerAdminCommands } from './admin.js';
import { registerApiKeyCommands } from './api-keys.js';
import { registerAuditCommands } from './audit.js';
import { registerExchangePolicyCommands } from './exchange-policies.js';
import { registerClientCommands } from './clients.js';
import { describeError, isDebug } from './errors.js';
import { registerIatCommands } from './iat.js';
import { withRun, type CliIo, type CliRun } from './io.js';
import { registerKeyCommands } from './keys.js';
import { adminSocketPath, forwardToServer } from './socket-client.js';
import { registerMigrateCommand } from './migrate.js';
import { registerPolicyCommands } from './policies.js';
import { registerRbacCommands } from './rbac.js';
import { registerResourceCommands } from './resources.js';
import { registerSessionCommands } from './sessions.js';
import { registerUpstreamCommands } from './upstreams.js';
import { registerUserCommands } from './users.js';

/** src/cli/program.ts (tsx) and dist/cli/program.js (built) both sit two levels below the package root. */
function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

/** The program, writing its own output (help, usage errors) to `io`. */
export function buildProgram(io: Pick<CliIo, 'stdout' | 'stderr'>): Command {
  const program = new Command('gatehouse')
    .description('Operate a Gatehouse identity provider: database, users, clients, resource servers and keys.')
    .version(packageVersion())
    .option('-v, --verbose', 'also print log lines, security alerts among them, on stderr')
    // Set before the subcommands are created: `.command()` copies these settings to each.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (message, write) => write(`gatehouse: ${message.replace(/^error: /, '')}`),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `
Configuration comes from the same environment variables as the server
(GATEHOUSE_*, DATABASE_URL; see README.md). Pending migrations are applied
before any command runs. Security alerts a command raises go to the alert
webhook and the audit log; add --verbose to see their log lines too.

Examples:
  $ gatehouse users add alice --email alice@example.com
  $ gatehouse clients add --type confidential --name "My app" --redirect-uri https://app.example.com/callback
  $ gatehouse users list --json`);

  registerMigrateCommand(program);
  registerUserCommands(program);
  registerSessionCommands(program);
  registerClientCommands(program);
  registerIatCommands(program);
  registerPolicyCommands(program);
  registerResourceCommands(program);
  registerRbacCommands(program);
  registerKeyCommands(program);
  registerApiKeyCommands(program);
  registerExchangePolicyCommands(program);
  registerUpstreamCommands(program);
  registerAuditCommands(program);
  registerAdminCommands(program);
  return program;
}

/** Runs one command line (without the `node script` prefix); resolves to the exit status. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  // The embedded database held by a running server: the command goes to that server (issue 14 §3).
  if (!io.provided && !io.env.DATABASE_URL && !args.includes('--help') && !args.includes('-h') && args.length > 0) {
    const forwarded = await forwardToServer(adminSocketPath(path.resolve(io.env.GATEHOUSE_DATA_DIR || './data')), args, io);
    if (forwarded !== undefined) return forwarded;
  }
  const program = buildProgram(io);
  const run: CliRun = { io, verbose: false };
  program.hook('preAction', () => {
    run.verbose = program.opts<{ verbose?: boolean }>().verbose === true;
  });
  try {
    await withRun(run, () => program.parseAsync([...args], { from: 'user' }));
    return 0;
  } catch (error) {
    // Commander has already printed its own message (or the help, or the version).
    if (error instanceof CommanderError) return error.exitCode;
    const { message, exitCode } = describeError(error);
    io.stderr.write(`gatehouse: ${message}\n`);
    if (isDebug(io.env)) {
      for (let cause: unknown = error; cause instanceof Error; cause = cause.cause) io.stderr.write(`${cause.stack ?? cause.message}\n`);
    }
    return exitCode;
  }
}
