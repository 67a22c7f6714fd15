/**
 * Passwords reach the CLI on stdin or from a prompt, never as an argument:
 * arguments are visible to every user on the machine through `ps` and end up
 * in shell history.
 */
import { createInterface } from 'node:readline';

import { passwordSchema } from '../accounts/schemas.js';
import { CliError, withInput } from './errors.js';
import { io, type CliInput } from './io.js';

export async function readFirstLine(stream: CliInput): Promise<string | undefined> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of lines) return line;
    return undefined;
  } finally {
    lines.close();
  }
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
function promptHidden(question: string): Promise<string> {
  const { stdin: input, stderr } = io();
  const setRawMode = input.setRawMode?.bind(input);
  if (!setRawMode) return Promise.reject(new CliError('no terminal to prompt on'));
  stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      input.off('data', onData);
      setRawMode(false);
      input.pause();
      stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new CliError('cancelled', 130)); // Ctrl-C
        if (char === '\u0004') return value ? finish() : finish(new CliError('cancelled')); // Ctrl-D
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
        else if (char === '\u0015') value = ''; // Ctrl-U
        else if (char >= ' ') value += char;
      }
    };
    input.setEncoding('utf8');
    setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}

/** Fails before any work is done when there is no way to get a password. */
export function assertPasswordSource(options: { fromStdin: boolean }): void {
  if (!options.fromStdin && !io().stdin.isTTY) {
    throw new CliError('no terminal to prompt for the password: pipe it in and pass --password-stdin');
  }
}

/**
 * With `fromStdin`, the first line of stdin (so `printf '%s\n' "$PW" | gatehouse …`
 * works); otherwise a prompt, twice, when stdin is a terminal. Anything else
 * is an error rather than a silent wait on a pipe nobody writes to.
 */
export async function readNewPassword(options: { fromStdin: boolean }): Promise<string> {
  if (options.fromStdin) {
    const line = await readFirstLine(io().stdin);
    if (!line) throw new CliError('--password-stdin: no password on stdin');
    return line;
  }
  assertPasswordSource(options);
  const password = await promptHidden('New password: ');
  // Checked before the confirmation so a too-short password is not typed twice.
  await withInput(password, async (value) => passwordSchema.parse(value));
  const again = await promptHidden('Repeat password: ');
  if (again !== password) throw new CliError('the passwords do not match');
  return password;
}
