/**
 * How the CLI prints: JSON for scripts (snake_case, ISO 8601 dates, stable
 * field names) and aligned tables or `field: value` lists for people. Results
 * go to stdout; notes and progress go to stderr so `--json` output stays pure.
 */
import { io } from './io.js';

export type Cell = string | number | boolean | null | undefined;

export interface Column<T> {
  header: string;
  value: (row: T) => Cell;
}

export function out(line = ''): void {
  io().stdout.write(`${line}\n`);
}

/** A remark for the operator that is not part of the result. */
export function note(line: string): void {
  io().stderr.write(`gatehouse: ${line}\n`);
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** ISO 8601, or null; drivers hand back Date objects, but a string would do too. */
export function isoDate(value: Date | string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return new Date(value).toISOString();
}

function text(cell: Cell): string {
  if (cell === null || cell === undefined || cell === '') return '-';
  return String(cell);
}

export function printTable<T>(rows: readonly T[], columns: readonly Column<T>[], whenEmpty: string): void {
  if (rows.length === 0) {
    out(whenEmpty);
    return;
  }
  const cells = rows.map((row) => columns.map((column) => text(column.value(row))));
  const widths = columns.map((column, i) => Math.max(column.header.length, ...cells.map((line) => line[i]!.length)));
  const format = (line: string[]) => line.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  out(format(columns.map((column) => column.header)));
  for (const line of cells) out(format(line));
}

/** One record as aligned `field: value` lines; arrays one item per line. */
export function printFields(fields: ReadonlyArray<readonly [string, Cell | readonly string[]]>): void {
  const width = Math.max(...fields.map(([name]) => name.length)) + 1;
  for (const [name, value] of fields) {
    const label = `${name}:`.padEnd(width);
    if (Array.isArray(value)) {
      if (value.length === 0) out(`${label}  -`);
      value.forEach((item, i) => out(`${i === 0 ? label : ' '.repeat(width)}  ${item}`));
    } else {
      out(`${label}  ${text(value as Cell)}`);
    }
  }
}
