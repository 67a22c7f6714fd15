import { type Command, InvalidArgumentError, Option } from 'commander';

import { createAuditReader } from '../audit/reader.js';
import type { AuditFilter, AuditRow } from '../audit/reader.js';
import { parseDuration } from '../config/duration.js';
import { withContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, out, printJson, printTable } from './output.js';

/** `2025-01-31`, `2025-01-31T12:00:00Z`, or a duration meaning "that long ago" (`15m`, `24h`, `7d`). */
function parseSince(value: string): Date {
  const seconds = parseDuration(value);
  if (seconds !== undefined) return new Date(Date.now() - seconds * 1000);
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) throw new InvalidArgumentError('expected an ISO 8601 date or a duration such as 15m, 24h or 7d');
  return date;
}

function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError('expected a whole number from 1 to 100000');
  return n;
}

export function eventJson(row: AuditRow) {
  return {
    seq: row.seq,
    occurred_at: isoDate(row.occurredAt),
    type: row.type,
    outcome: row.outcome,
    actor: row.actor,
    subject: row.subject,
    client_id: row.clientId,
    ip: row.ip,
    request_id: row.requestId,
    node: row.node,
    detail: row.detail,
    hash: row.hash.toString('hex'),
  };
}

function printEvents(rows: readonly AuditRow[], json: boolean | undefined, whenEmpty: string): void {
  if (json) return printJson(rows.map(eventJson));
  printTable(
    rows,
    [
      { header: 'SEQ', value: (r) => r.seq },
      { header: 'TIME', value: (r) => isoDate(r.occurredAt) },
      { header: 'TYPE', value: (r) => r.type },
      { header: 'OUTCOME', value: (r) => r.outcome },
      { header: 'ACTOR', value: (r) => r.actor },
      { header: 'SUBJECT', value: (r) => r.subject },
      { header: 'CLIENT', value: (r) => r.clientId },
      { header: 'IP', value: (r) => r.ip },
      { header: 'REQUEST', value: (r) => r.requestId },
    ],
    whenEmpty,
  );
}

interface FilterOptions {
  since?: Date;
  until?: Date;
  type?: string;
  actor?: string;
  json?: boolean;
}

const filterOf = (options: FilterOptions, limit: number): AuditFilter => ({
  limit,
  ...(options.since ? { since: options.since } : {}),
  ...(options.until ? { until: options.until } : {}),
  ...(options.type ? { type: options.type } : {}),
  ...(options.actor ? { actor: options.actor } : {}),
});

async function verify(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ db, secrets }) => {
    const report = await createAuditReader(db, secrets).verify();
    if (options.json) printJson({ ok: report.ok, rows: report.rows, head: report.head, problems: report.problems });
    else if (report.ok) out(`audit chain intact: ${report.rows} events, head at seq ${report.head.seq} (${report.head.hash})`);
    else for (const problem of report.problems) out(`seq ${problem.seq}: ${problem.kind}: ${problem.message}`);
    if (!report.ok) throw new CliError(`the audit chain is broken in ${report.problems.length} place${report.problems.length === 1 ? '' : 's'}${report.problems.length >= 100 ? ' (first 100 shown)' : ''}`, 3);
  });
}

async function tail(options: FilterOptions & { lines: number; follow?: boolean }): Promise<void> {
  await withContext(async ({ db, secrets }) => {
    const reader = createAuditReader(db, secrets);
    const rows = await reader.searchInOrder(filterOf(options, options.lines));
    printEvents(rows, options.json, options.follow ? '' : 'no matching audit events');
    if (!options.follow) return;
    let after = rows.at(-1)?.seq ?? (await reader.head()).seq;
    // Polls once a second until interrupted; each new event prints as one line (JSON Lines with --json).
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const more = await reader.searchInOrder({ ...filterOf(options, 1000), afterSeq: after });
      for (const row of more) out(options.json ? JSON.stringify(eventJson(row)) : `${row.seq}  ${isoDate(row.occurredAt)}  ${row.type}  ${row.outcome ?? '-'}  ${row.actor ?? '-'}  ${row.subject ?? '-'}  ${row.ip ?? '-'}`);
      after = more.at(-1)?.seq ?? after;
    }
  });
}

async function search(options: FilterOptions & { limit: number }): Promise<void> {
  await withContext(async ({ db, secrets }) => {
    printEvents(await createAuditReader(db, secrets).searchInOrder(filterOf(options, options.limit)), options.json, 'no matching audit events');
  });
}

function filterOptions(command: Command, sinceRequired: boolean): Command {
  const since = new Option('--since <when>', 'events at or after this ISO 8601 time, or this long ago (15m, 24h, 7d)').argParser(parseSince);
  if (sinceRequired) since.makeOptionMandatory();
  return command
    .addOption(since)
    .option('--until <when>', 'events before this time (same forms as --since)', parseSince)
    .option('--type <type>', 'an event type (login.failure), or a prefix ending in . or * (login. or token.*)')
    .option('--actor <who>', 'events by or about this account id, client id, `operator` or `system`')
    .option('--json', 'print JSON');
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('read and verify the hash-chained audit log');

  audit
    .command('verify')
    .description('check every row of the audit chain; names rows that were edited, deleted or reordered')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', `
Exit status: 0 when the chain is intact, 3 when it is broken (each problem is
printed), 1 or 2 for other errors. Rows chained under a previous master secret
verify while GATEHOUSE_MASTER_KEY_PREVIOUS is set.

Example:
  $ gatehouse audit verify`)
    .action(verify);

  filterOptions(audit.command('tail').description('show the latest audit events'), false)
    .option('-n, --lines <count>', 'how many events', parseCount, 20)
    .option('-f, --follow', 'keep printing new events as they are written')
    .addHelpText('after', `
Examples:
  $ gatehouse audit tail -n 50
  $ gatehouse audit tail --type login. --follow`)
    .action(tail);

  filterOptions(audit.command('search').description('find audit events in a time range'), true)
    .option('--limit <count>', 'at most this many (the newest)', parseCount, 1000)
    .addHelpText('after', `
Examples:
  $ gatehouse audit search --since 24h --type token.reuse_detected
  $ gatehouse audit search --since 2025-01-01 --until 2025-02-01 --actor operator --json`)
    .action(search);
}
