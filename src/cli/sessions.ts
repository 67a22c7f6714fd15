/**
 * `gatehouse sessions …`: a user's sign-in sessions and grants, and ending
 * them (issue 18). Every revocation goes through the sessions service, which
 * also queues back-channel logout to the user's clients (sent by a running
 * server's worker) and audits with the operator as actor.
 */
import type { Command } from 'commander';

import { operator } from '../audit/events.js';
import { withContext, type CliContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, out, printJson, printTable } from './output.js';

async function accountId({ services }: CliContext, user: string): Promise<string> {
  const account = await services.accounts.find(user);
  if (!account) throw new CliError(`no such account: ${user}`);
  return account.id;
}

async function list(user: string, options: { json?: boolean; grants?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const id = await accountId(context, user);
    if (options.grants) {
      const grants = await context.services.sessions.listGrants(id);
      if (options.json) return printJson(grants.map((g) => ({ id: g.id, client_id: g.clientId, scope: g.scope, resources: g.resources, created_at: isoDate(g.createdAt), expires_at: isoDate(g.expiresAt) })));
      return printTable(grants, [
        { header: 'GRANT', value: (g) => g.id },
        { header: 'CLIENT', value: (g) => g.clientId },
        { header: 'SCOPE', value: (g) => g.scope },
        { header: 'EXPIRES', value: (g) => isoDate(g.expiresAt) },
      ], 'no grants');
    }
    const sessions = await context.services.sessions.listSessions(id);
    if (options.json) return printJson(sessions.map((s) => ({ id: s.id, signed_in_at: isoDate(s.signedInAt), acr: s.acr, amr: s.amr, clients: s.clients, expires_at: isoDate(s.expiresAt) })));
    printTable(sessions, [
      { header: 'SESSION', value: (s) => s.id },
      { header: 'SIGNED IN', value: (s) => isoDate(s.signedInAt) },
      { header: 'AMR', value: (s) => s.amr.join(' ') },
      { header: 'CLIENTS', value: (s) => s.clients.join(' ') },
      { header: 'EXPIRES', value: (s) => isoDate(s.expiresAt) },
    ], 'no sessions');
  });
}

async function revoke(user: string, session: string | undefined, options: { all?: boolean; grant?: string }): Promise<void> {
  const chosen = [session !== undefined, options.all === true, options.grant !== undefined].filter(Boolean).length;
  if (chosen !== 1) throw new CliError('name one session, or give --all or --grant <id>');
  await withContext(async (context) => {
    const id = await accountId(context, user);
    const { sessions } = context.services;
    if (options.all) {
      const result = await sessions.signOutEverywhere(operator, id, 'sign_out_everywhere');
      return out(`signed out everywhere: ${result.sessions} session(s) ended, ${result.grants} grant(s) revoked, ${result.logouts} back-channel logout(s) queued`);
    }
    if (options.grant !== undefined) {
      if (!(await sessions.revokeGrant(operator, id, options.grant))) throw new CliError(`no grant ${options.grant} for ${user}`);
      return out(`grant ${options.grant} revoked`);
    }
    if (!(await sessions.revokeSession(operator, id, session!))) throw new CliError(`no session ${session} for ${user}`);
    out(`session ${session} ended`);
  });
}

export function registerSessionCommands(program: Command): void {
  const sessions = program.command('sessions').description("a user's sign-in sessions and grants: list them, end one or all (sign out everywhere)");
  sessions
    .command('list')
    .description("list a user's live sessions (or, with --grants, what the user allowed clients)")
    .argument('<user>', 'account id, username or email')
    .option('--grants', 'list grants instead of sessions')
    .option('--json', 'print a JSON array')
    .addHelpText('after', '\nExamples:\n  $ gatehouse sessions list alice\n  $ gatehouse sessions list alice --grants --json')
    .action(list);
  sessions
    .command('revoke')
    .description('end one session, revoke one grant, or sign the user out everywhere; clients with a back-channel logout URI are told')
    .argument('<user>', 'account id, username or email')
    .argument('[session]', 'the session id `sessions list` shows')
    .option('--all', 'sign out everywhere: every session, grant and token of the user')
    .option('--grant <id>', 'revoke this grant and every token issued under it')
    .addHelpText('after', '\nExamples:\n  $ gatehouse sessions revoke alice --all\n  $ gatehouse sessions revoke alice 3oB7xQ…\n  $ gatehouse sessions revoke alice --grant 9Kc…')
    .action(revoke);
}
