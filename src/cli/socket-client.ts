/**
 * The CLI's side of the local admin socket (issue 14 §3). The embedded
 * database serves one process; while a server holds it, a command is sent to
 * that server over `<data dir>/admin.sock` instead of failing, and prints the
 * same output with the same exit status. The socket is owner-only (mode 0600,
 * in the data directory): whoever can open it could read the database files
 * anyway, so file permissions are the authentication.
 */
import { connect, type Socket } from 'node:net';
import path from 'node:path';

import type { CliIo } from './io.js';

export const adminSocketName = 'admin.sock';
export const adminSocketPath = (dataDir: string) => path.join(dataDir, adminSocketName);

export interface SocketRequest {
  args: string[];
  stdin: string;
}

export interface SocketAnswer {
  stdout: string;
  stderr: string;
  code: number;
}

async function readAll(stream: CliIo['stdin']): Promise<string> {
  // An interactive terminal has nothing to forward; prompts need the in-process CLI.
  if (stream.isTTY) return '';
  let text = '';
  for await (const chunk of stream as AsyncIterable<Buffer | string>) text += chunk.toString();
  return text;
}

/** Runs the command on the server behind `socket`; undefined when no server listens there. */
export async function forwardToServer(socket: string, args: readonly string[], io: CliIo): Promise<number | undefined> {
  const connection = await new Promise<Socket | undefined>((resolve) => {
    const s = connect(socket);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(undefined));
  });
  if (!connection) return undefined;
  const request: SocketRequest = { args: [...args], stdin: await readAll(io.stdin) };
  connection.end(`${JSON.stringify(request)}\n`);
  let text = '';
  for await (const chunk of connection as AsyncIterable<Buffer>) text += chunk.toString('utf8');
  let answer: SocketAnswer;
  try {
    answer = JSON.parse(text) as SocketAnswer;
  } catch {
    io.stderr.write('gatehouse: the running server closed the admin socket without an answer\n');
    return 1;
  }
  io.stdout.write(answer.stdout);
  io.stderr.write(answer.stderr);
  return answer.code;
}
