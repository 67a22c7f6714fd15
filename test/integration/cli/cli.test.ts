/**
 * The `gatehouse` operator CLI against a fresh database of the kind
 * GATEHOUSE_TEST_DB names: in-process (the real program with its own
 * terminal and environment, test/support/cli.ts), plus a few runs of the
 * real process entry. Each scenario owns its database and runs its commands
 * one after another (embedded PGlite serves one process at a time).
 */
import { afterAll, describe, test, vi, type ExpectStatic } from 'vitest';

import { cli, withServices, type CliResult } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

const scenarioTimeout = 240_000;


/** A clean failure: `gatehouse: …` on stderr, no stack trace, no SQL. */
function expectCleanFailure(expect: ExpectStatic, result: CliResult, message: string | RegExp): void {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toMatch(/^gatehouse: /);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toMatch(/\b(SELECT|INSERT|UPDATE|DELETE)\b/);
}

/** The stdout of a successful command as JSON; a failure shows the command's stderr. */
function json<T = Record<string, unknown>>(expect: ExpectStatic, result: CliResult): T {
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

const databases: TestDatabase[] = [];
// Empty: these tests read what the first command reports about migrating.
async function database(): Promise<TestDatabase> {
  const db = await freshDatabase(integrationDbKind(), { empty: true });
  databases.push(db);
  return db;
}
afterAll(async () => {
  await Promise.all(databases.map((db) => db.cleanup()));
});

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('gatehouse CLI', () => {
  test('users: add, list, duplicates, password rules, disable/enable, set-password', { timeout: scenarioTimeout }, async ({ expect }) => {
    const db = await database();
    const password = 'correct horse battery staple';

    const added = await cli(db, ['users', 'add', 'alice', '--email', 'alice@example.com', '--email-verified', '--name', 'Alice Liddell', '--password-stdin'], { stdin: `${password}\n` });
    expect(added.code, added.stderr).toBe(0);
    const id = added.stdout.trim();
    expect(id).toMatch(uuid);
    // A fresh database: the migration that ran is reported, on stderr only.
    expect(added.stderr).toMatch(/applying migration 0001_init/);

    const listed = await cli(db, ['users', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stderr).toBe('');
    const users = json<Array<Record<string, unknown>>>(expect, listed);
    expect(users).toEqual([
      expect.objectContaining({ id, username: 'alice', email: 'alice@example.com', email_verified: true, name: 'Alice Liddell', disabled: false }),
    ]);
    expect(users[0]!.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(listed.stdout).not.toContain('password');

    expectCleanFailure(expect, await cli(db, ['users', 'add', 'Alice', '--password-stdin'], { stdin: `${password}\n` }), /an account named Alice already exists/);
    expectCleanFailure(expect, await cli(db, ['users', 'add', 'bob', '--password-stdin'], { stdin: 'short\n' }), /password must be at least 12 characters/);
    expectCleanFailure(expect, await cli(db, ['users', 'add', 'bob', '--password-stdin'], { stdin: 'Password1234\n' }), /list of common or breached passwords/);
    expectCleanFailure(expect, await cli(db, ['users', 'add', 'bob']), /--password-stdin/);

    const disabled = await cli(db, ['users', 'disable', 'alice@example.com']);
    expect(disabled.code, disabled.stderr).toBe(0);
    const shown = await cli(db, ['users', 'show', 'alice', '--json']);
    expect(json(expect, shown)).toMatchObject({ id, disabled: true });
    const enabled = await cli(db, ['users', 'enable', id]);
    expect(enabled.code, enabled.stderr).toBe(0);
    const table = await cli(db, ['users', 'show', 'alice']);
    expect(table.stdout).toMatch(/status:\s+enabled/);

    const changed = await cli(db, ['users', 'set-password', 'alice', '--password-stdin'], { stdin: 'a brand new passphrase\nignored second line\n' });
    expect(changed.code, changed.stderr).toBe(0);
    expectCleanFailure(expect, await cli(db, ['users', 'set-password', 'nobody', '--password-stdin'], { stdin: 'a brand new passphrase\n' }), /no such account: nobody/);

    await withServices(db, async (services) => {
      expect(await services.accounts.authenticate('alice', 'a brand new passphrase')).toMatchObject({ ok: true, account: { id, disabled: false } });
      expect(await services.accounts.authenticate('alice', password)).toEqual({ ok: false, reason: 'wrong_password' });
    });
  });

  test('clients: each type, secret shown once and stored encrypted, validation, disable/enable/remove', { timeout: scenarioTimeout }, async ({ expect }) => {
    const db = await database();

    const confidential = await cli(db, ['clients', 'add', '--type', 'confidential', '--name', 'My app', '--redirect-uri', 'https://app.example.com/callback', '--post-logout-redirect-uri', 'https://app.example.com/']);
    expect(confidential.code, confidential.stderr).toBe(0);
    const confidentialId = /^client_id:\s+(\S+)$/m.exec(confidential.stdout)?.[1];
    const confidentialSecret = /^client_secret:\s+(\S+)$/m.exec(confidential.stdout)?.[1];
    expect(confidentialId).toBeTruthy();
    expect(confidentialSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(confidential.stdout.split(confidentialSecret!).length - 1).toBe(1);
    expect(confidential.stderr).toMatch(/shown only this once.*encrypted/);

    const publicClient = await cli(db, ['clients', 'add', '--type', 'public', '--name', 'SPA', '--redirect-uri', 'http://127.0.0.1:8080/cb', '--json']);
    expect(publicClient.code, publicClient.stderr).toBe(0);
    const publicJson = json(expect, publicClient);
    expect(publicJson).toMatchObject({ type: 'public', client_secret: null, token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1:8080/cb'] });

    const service = await cli(db, ['clients', 'add', '--type', 'service', '--name', 'Worker', '--scope', 'invoices:read invoices:write', '--auth-method', 'client_secret_post', '--json']);
    expect(service.code, service.stderr).toBe(0);
    const serviceJson = json<{ client_id: string; client_secret: string }>(expect, service);
    expect(serviceJson).toMatchObject({ type: 'service', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' });
    expect(serviceJson.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const secrets = [confidentialSecret!, serviceJson.client_secret];

    const listed = await cli(db, ['clients', 'list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const clients = json<Array<Record<string, unknown>>>(expect, listed);
    expect(clients.map((c) => [c.client_id, c.type])).toEqual([
      [confidentialId, 'confidential'],
      [publicJson.client_id, 'public'],
      [serviceJson.client_id, 'service'],
    ]);
    for (const secret of secrets) expect(listed.stdout).not.toContain(secret);
    for (const client of clients) expect(client).not.toHaveProperty('client_secret');

    const invalid = await cli(db, ['clients', 'add', '--type', 'confidential', '--name', 'Bad', '--redirect-uri', 'http://app.example.com/cb', '--redirect-uri', 'https://app.example.com/cb#fragment']);
    expectCleanFailure(expect, invalid, /--redirect-uri "http:\/\/app\.example\.com\/cb": redirect URIs must be https/);
    expect(invalid.stderr).toContain('--redirect-uri "https://app.example.com/cb#fragment"');
    expectCleanFailure(expect, await cli(db, ['clients', 'add', '--type', 'public', '--name', 'No URIs']), /a public client needs at least one redirect URI/);
    const badType = await cli(db, ['clients', 'add', '--type', 'weird', '--name', 'Bad']);
    expect(badType.code).toBe(1);
    expect(badType.stderr).toMatch(/^gatehouse: .*Allowed choices are confidential, public, service/);

    expect((await cli(db, ['clients', 'disable', confidentialId!])).code).toBe(0);
    const shown = await cli(db, ['clients', 'show', confidentialId!, '--json']);
    expect(json(expect, shown)).toMatchObject({ client_id: confidentialId, disabled: true, redirect_uris: ['https://app.example.com/callback'] });
    expect((await cli(db, ['clients', 'enable', confidentialId!])).code).toBe(0);
    const removed = await cli(db, ['clients', 'remove', publicJson.client_id as string]);
    expect(removed.code, removed.stderr).toBe(0);
    expectCleanFailure(expect, await cli(db, ['clients', 'remove', publicJson.client_id as string]), `no such client: ${publicJson.client_id as string}`);
    const table = await cli(db, ['clients', 'list']);
    expect(table.stdout).toMatch(/^CLIENT_ID\s+NAME\s+TYPE\s+STATUS/);
    expect(table.stdout).toMatch(new RegExp(`^${confidentialId}\\s+My app\\s+confidential\\s+enabled`, 'm'));
    expect(table.stdout).not.toContain(publicJson.client_id as string);

    await withServices(db, async (services, handle) => {
      // Invariant 1: a dump of the table holds no usable secret…
      const { rows } = await handle.query<{ row: string }>('SELECT c::text AS row FROM clients c');
      expect(rows).toHaveLength(2);
      const dump = rows.map((r) => r.row).join('\n');
      for (const secret of secrets) expect(dump).not.toContain(secret);
      // …yet the provider gets it back under the master key.
      expect(await services.clients.metadataForProvider(confidentialId!)).toMatchObject({ client_secret: confidentialSecret });
    });
  });

  test('resources and keys', { timeout: scenarioTimeout }, async ({ expect }) => {
    const db = await database();

    const noKeys = await cli(db, ['keys', 'list', '--json']);
    expect(noKeys.code, noKeys.stderr).toBe(0);
    expect(json<unknown[]>(expect, noKeys)).toEqual([]);

    const added = await cli(db, ['resources', 'add', '--audience', 'https://api.example.com', '--name', 'Example API', '--scope', 'invoices:read', '--scope', 'invoices:write', '--ttl', '10m', '--json']);
    expect(added.code, added.stderr).toBe(0);
    expect(json(expect, added)).toMatchObject({ audience: 'https://api.example.com', scopes: ['invoices:read', 'invoices:write'], access_token_ttl: 600, token_format: 'jwt', signing_alg: 'ES256' });
    expectCleanFailure(expect, await cli(db, ['resources', 'add', '--audience', 'https://api.example.com', '--name', 'Again', '--ttl', '1h']), /already exists/);
    const metadata = await cli(db, ['resources', 'metadata', 'https://api.example.com']);
    expect(metadata.code, metadata.stderr).toBe(0);
    expect(json(expect, metadata)).toMatchObject({ resource: 'https://api.example.com', scopes_supported: ['invoices:read', 'invoices:write'], bearer_methods_supported: ['header'], resource_name: 'Example API' });
    expect(metadata.stderr).toContain('publish at https://api.example.com/.well-known/oauth-protected-resource');
    expectCleanFailure(expect, await cli(db, ['resources', 'metadata', 'https://none.example.com']), /no such resource server/);
    const badTtl = await cli(db, ['resources', 'add', '--audience', 'https://other.example.com', '--name', 'Other', '--ttl', '10 minutes']);
    expect(badTtl.code).toBe(1);
    expect(badTtl.stderr).toMatch(/^gatehouse: .*--ttl.*expected a duration/);

    const opaque = await cli(db, ['resources', 'add', '--audience', 'urn:example:ledger', '--name', 'Ledger', '--ttl', '1h', '--format', 'opaque']);
    expect(opaque.code, opaque.stderr).toBe(0);
    const listed = await cli(db, ['resources', 'list', '--json']);
    expect(json<Array<{ audience: string }>>(expect, listed).map((r) => r.audience)).toEqual(['https://api.example.com', 'urn:example:ledger']);
    expect((await cli(db, ['resources', 'remove', 'https://api.example.com'])).code).toBe(0);
    expectCleanFailure(expect, await cli(db, ['resources', 'remove', 'https://api.example.com']), /no such resource server: https:\/\/api\.example\.com/);
    const table = await cli(db, ['resources', 'list']);
    expect(table.stdout).toMatch(/^urn:example:ledger\s+Ledger\s+-\s+1h\s+opaque/m);
    expect(table.stdout).not.toContain('https://api.example.com');

    const kids = await withServices(db, (services) => services.keystore.ensureActiveKeys());
    expect(kids).toHaveLength(2);
    const keys = await cli(db, ['keys', 'list']);
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout).toMatch(/^KID\s+ALG\s+STATE/);
    for (const kid of kids) expect(keys.stdout).toMatch(new RegExp(`^${kid}\\s+(ES256|RS256)\\s+active\\s+\\d{4}-`, 'm'));
    expect(keys.stdout).not.toMatch(/private|"d"/);
  });

  test('every command has --help; unknown commands and bad configuration fail', { timeout: scenarioTimeout }, async ({ expect }) => {
    const commands = [
      [],
      ['migrate'],
      ['users'], ['users', 'add'], ['users', 'list'], ['users', 'show'], ['users', 'disable'], ['users', 'enable'], ['users', 'set-password'],
      ['clients'], ['clients', 'add'], ['clients', 'list'], ['clients', 'show'], ['clients', 'remove'], ['clients', 'disable'], ['clients', 'enable'],
      ['resources'], ['resources', 'add'], ['resources', 'list'], ['resources', 'remove'],
      ['keys'], ['keys', 'list'],
    ];
    const queue = [...commands];
    const failures: string[] = [];
    // No database is touched, so two at a time is safe (the machines have two cores).
    await Promise.all(Array.from({ length: 2 }, async () => {
      for (let command = queue.shift(); command; command = queue.shift()) {
        const result = await cli(undefined, [...command, '--help']);
        const usage = new RegExp(`^Usage: gatehouse${command.map((c) => ` ${c}`).join('')}\\b`);
        if (result.code !== 0 || !usage.test(result.stdout)) failures.push(`${command.join(' ')}: exit ${result.code}\n${result.stdout}${result.stderr}`);
      }
    }));
    expect(failures).toEqual([]);

    const [unknown, config, migrate] = await Promise.all([
      cli(undefined, ['frobnicate']),
      cli(undefined, ['users', 'list'], { env: { GATEHOUSE_NO_SUCH_SETTING: '1' } }),
      database().then(async (db) => [await cli(db, ['migrate']), await cli(db, ['migrate'])] as const),
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/^gatehouse: unknown command 'frobnicate'/);
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/^gatehouse: invalid configuration:\n\s+GATEHOUSE_NO_SUCH_SETTING: unknown setting/);
    expect(migrate[0].code, migrate[0].stderr).toBe(0);
    expect(migrate[0].stdout).toMatch(/^applying 0001_init\n(applying \d{4}_\w+\n)*schema version \d+ \(\d+ migrations? applied\)\n$/);
    expect(migrate[1].stdout).toMatch(/^schema version \d+ \(up to date\)\n$/);
    expect(migrate[1].stderr).toBe('');
  });

  test('the real process: help, a command reading stdin, exit statuses', { timeout: scenarioTimeout }, async ({ expect }) => {
    const db = await database();
    const [help, version, unknown, config] = await Promise.all([
      cli(undefined, ['--help'], { process: true }),
      cli(undefined, ['--version'], { process: true }),
      cli(undefined, ['frobnicate'], { process: true }),
      cli(undefined, ['users', 'list'], { process: true, env: { GATEHOUSE_NO_SUCH_SETTING: '1' } }),
    ]);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: gatehouse \[options\] \[command\]/);
    expect(help.stdout).toMatch(/-v, --verbose/);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^gatehouse: unknown command 'frobnicate'/);
    expect(config.code).toBe(2);
    expect(config.stderr).toMatch(/^gatehouse: invalid configuration:/);

    const added = await cli(db, ['users', 'add', 'carol', '--password-stdin'], { process: true, stdin: 'correct horse battery staple\n' });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout.trim()).toMatch(uuid);
    // No terminal to prompt on, and no --password-stdin: refused before anything is written.
    expectCleanFailure(expect, await cli(db, ['users', 'add', 'dave'], { process: true }), /no terminal to prompt for the password/);
    const listed = json<Array<Record<string, unknown>>>(expect, await cli(db, ['users', 'list', '--json'], { process: true }));
    expect(listed.map((u) => u.username)).toEqual(['carol']);
  });

  test('in-process runs read only their own environment and never exit the process', { timeout: scenarioTimeout }, async ({ expect }) => {
    const db = await database();
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => {
      throw new Error('the CLI called process.exit');
    }) as never);
    // Would make loadConfig refuse to start if the CLI read the test process's env.
    process.env.GATEHOUSE_NO_SUCH_SETTING = '1';
    try {
      const listed = await cli(db, ['users', 'list', '--json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(JSON.parse(listed.stdout)).toEqual([]);
      const failed = await cli(db, ['users', 'show', 'nobody']);
      expectCleanFailure(expect, failed, /no such account: nobody/);
      const usage = await cli(db, ['users', 'add']);
      expect(usage.code).toBe(1);
      expect(usage.stderr).toMatch(/missing required argument 'username'/);
      expect(exit).not.toHaveBeenCalled();
    } finally {
      delete process.env.GATEHOUSE_NO_SUCH_SETTING;
      exit.mockRestore();
    }
  });
});
