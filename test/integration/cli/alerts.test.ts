/**
 * Issue 22, item 16: an operator command that raises a security alert (every
 * change does: the admin-action rule) delivers it to the webhook and prints
 * only its result; the alert's log line reaches the terminal with --verbose.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cli } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

// A fresh embedded database's first command migrates it: tens of seconds on a loaded machine.
const timeout = 240_000;

describe('alerts raised by CLI commands', () => {
  let database: TestDatabase;
  let server: Server;
  const received: string[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    database = await freshDatabase(integrationDbKind());
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    env = {
      GATEHOUSE_ALERT_WEBHOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
      GATEHOUSE_ALERT_WEBHOOK_SECRET: 'webhook-secret-0123456789-abcdefghijklmnop',
    };
  });
  afterAll(async () => {
    server?.close();
    await database?.cleanup();
  });

  const alertsAbout = (subject: string) =>
    received.map((body) => JSON.parse(body) as { alert: string; event: { type: string; actor: string; subject: string } }).filter((a) => a.event.subject === subject);

  it('sends the alert to the webhook and keeps its line off the terminal', { timeout }, async () => {
    const added = await cli(database, ['users', 'add', 'alice', '--password-stdin'], { stdin: 'correct horse battery staple\n', env });
    expect(added.code, added.stderr).toBe(0);
    const id = added.stdout.trim();
    expect(added.stdout).toBe(`${id}\n`);
    expect(added.stderr).not.toMatch(/security alert/);
    expect(added.stderr).not.toMatch(/^\{/m);
    // Delivered before the command returned: the trail drains its webhook queue on close.
    expect(alertsAbout(id)).toEqual([expect.objectContaining({ alert: 'admin_action', event: expect.objectContaining({ type: 'account.created', actor: 'operator' }) })]);
  });

  it('shows the alert line with --verbose (or -v), after the command name or before it', { timeout }, async () => {
    for (const args of [['users', 'disable', 'alice', '--verbose'], ['-v', 'users', 'enable', 'alice']]) {
      const result = await cli(database, args, { env });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^(disabled|enabled) alice \(/);
      const alert = result.stderr.split('\n').filter((line) => line.includes('"msg":"security alert"'));
      expect(alert, result.stderr).toHaveLength(1);
      expect(JSON.parse(alert[0]!)).toMatchObject({ alert: 'admin_action', severity: 'warning' });
    }
    const types = received.map((body) => (JSON.parse(body) as { event: { type: string } }).event.type);
    expect(types).toEqual(['account.created', 'account.disabled', 'account.enabled']);
  });
});
