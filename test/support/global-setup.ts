// vitest globalSetup: makes a PostgreSQL server available to the test run.
//
// If TEST_DATABASE_URL is set (CI starts one server for all rounds), that
// server is used as is. Otherwise a throwaway cluster is started with
// pg-server.sh in a temporary directory and stopped again in teardown.
// Either way the admin URL is provided to tests as inject('postgresAdminUrl')
// (see ./databases.ts) and exported as process.env.TEST_DATABASE_URL.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

import { provideEmbeddedTemplate } from './embedded-template.js';

const execFileAsync = promisify(execFile);
const pgServerScript = fileURLToPath(new URL('./pg-server.sh', import.meta.url));

/** host:port/db of a URL, without credentials, for log lines. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

async function pgServer(command: 'start' | 'stop', dir: string): Promise<string> {
  const child = execFileAsync('bash', [pgServerScript, command, dir], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  // The script's progress messages go to stderr; pass them through.
  child.child.stderr?.pipe(process.stderr);
  const { stdout } = await child;
  return stdout.trim();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [removeTemplate, stopServer] = await Promise.all([provideEmbeddedTemplate(project), postgres(project)]);
  return async () => {
    await stopServer();
    await removeTemplate();
  };
}

/** PostgreSQL as described at the top; returns the teardown. */
async function postgres(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    process.stderr.write(
      `[global-setup] PostgreSQL: using TEST_DATABASE_URL (${describeUrl(given)})\n`,
    );
    project.provide('postgresAdminUrl', given);
    return async () => {};
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-pg-'));
  let url: string;
  try {
    url = await pgServer('start', dir);
    if (!/^postgres:\/\//.test(url)) {
      throw new Error(`pg-server.sh printed an unexpected admin URL: ${JSON.stringify(url)}`);
    }
  } catch (err) {
    await pgServer('stop', dir).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  process.stderr.write(
    `[global-setup] PostgreSQL: started throwaway server ${describeUrl(url)} in ${dir}\n`,
  );
  process.env.TEST_DATABASE_URL = url;
  project.provide('postgresAdminUrl', url);

  return async () => {
    try {
      await pgServer('stop', dir);
    } finally {
      delete process.env.TEST_DATABASE_URL;
      await rm(dir, { recursive: true, force: true });
    }
  };
}
