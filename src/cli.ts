#!/usr/bin/env node
/**
 * `gatehouse`: the operator command. The program lives in src/cli/program.ts
 * (each command group in src/cli/); this entry binds the process's terminal
 * and environment to it. Errors print as `gatehouse: <message>` and exit 1
 * (2 for configuration), with a stack only at GATEHOUSE_LOG_LEVEL=debug.
 */
import { runCli } from './cli/program.js';

/** `gatehouse users list | head` closes the pipe early; that is the reader's choice, not an error. */
function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(process.exitCode ?? 0);
  });
}

exitQuietlyOnClosedPipe(process.stdout);
exitQuietlyOnClosedPipe(process.stderr);
process.exitCode = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
