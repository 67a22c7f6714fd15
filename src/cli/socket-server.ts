/**
 * The server's side of the local admin socket (see socket-client.ts): each
 * connection carries one command line and its stdin as a JSON line, runs
 * through the same program (src/cli/program.ts) with the server's open core,
 * and gets back stdout, stderr and the exit status. Commands are audited as
 * the operator, exactly as in-process ones.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { PassThrough, Writable } from 'node:stream';

import type { Logger } from 'pino';

import type { ProvidedContext } from './io.js';
import { runCli } from './program.js';
import type { SocketAnswer, SocketRequest } from './socket-client.js';

const maxRequestBytes = 1024 * 1024;

function collector(): { stream: Writable; text: () => string } {
  let text = '';
  return {
    stream: new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        text += chunk.toString();
        callback();
      },
    }),
    text: () => text,
  };
}

export interface AdminSocket {
  path: string;
  close(): Promise<void>;
}

export async function serveAdminSocket(socketPath: string, context: ProvidedContext, log: Logger): Promise<AdminSocket> {
  // A socket file left by a process that died: nobody listens on it (we hold the embedded database).
  await unlink(socketPath).catch(() => undefined);
  // Half-open: the CLI ends its side after the request and still reads the answer.
  const server: Server = createServer({ allowHalfOpen: true }, (connection) => {
    let text = '';
    connection.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.length > maxRequestBytes) connection.destroy();
    });
    connection.on('error', () => undefined);
    connection.on('end', () => {
      void (async () => {
        let request: SocketRequest;
        try {
          request = JSON.parse(text) as SocketRequest;
          if (!Array.isArray(request.args) || !request.args.every((a) => typeof a === 'string') || typeof request.stdin !== 'string') throw new Error('bad request');
        } catch {
          connection.end(JSON.stringify({ stdout: '', stderr: 'gatehouse: malformed admin socket request\n', code: 1 } satisfies SocketAnswer));
          return;
        }
        const stdin = new PassThrough();
        stdin.end(request.stdin);
        const stdout = collector();
        const stderr = collector();
        const code = await runCli(request.args, { stdin, stdout: stdout.stream, stderr: stderr.stream, env: {}, provided: context });
        log.info({ command: request.args.filter((a) => !a.startsWith('-')).slice(0, 2).join(' '), code }, 'CLI command over the admin socket');
        connection.end(JSON.stringify({ stdout: stdout.text(), stderr: stderr.text(), code } satisfies SocketAnswer));
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  await chmod(socketPath, 0o600);
  return {
    path: socketPath,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(socketPath).catch(() => undefined);
    },
  };
}
