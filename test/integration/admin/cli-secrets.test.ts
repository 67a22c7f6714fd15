/**
 * `gatehouse clients rotate-secret`, `clients secrets`, `clients end-overlap`
 * and `users set-admin` (issue 14): the in-process CLI against a fresh
 * database, checking what the service stored, not only what was printed.
 */
import { afterAll, describe, test } from 'vitest';

import { cli } from '../../support/cli.js';
import { freshDatabase, integrationDbKind, type TestDatabase } from '../../support/databases.js';

let db: TestDatabase | undefined;
afterAll(() => db?.cleanup());

describe('CLI: secret rotation and the admin marker', () => {
  test('rotate-secret shows the new secret once; secrets lists metadata only; end-overlap ends it', { timeout: 240_000 }, async ({ expect }) => {
    db = await freshDatabase(integrationDbKind());
    const added = await cli(db, ['clients', 'add', '--type', 'service', '--name', 'Nightly export', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const { client_id: clientId, client_secret: first } = JSON.parse(added.stdout) as { client_id: string; client_secret: string };

    const rotated = await cli(db, ['clients', 'rotate-secret', clientId, '--overlap', '1h', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    const { client_secret: second, previous_expires_at: until } = JSON.parse(rotated.stdout) as { client_secret: string; previous_expires_at: string };
    expect(second).toMatch(/^[\w-]{43}$/);
    expect(second).not.toBe(first);
    expect(Math.abs(new Date(until).getTime() - Date.now() - 3600_000)).toBeLessThan(60_000);

    const listed = await cli(db, ['clients', 'secrets', clientId, '--json']);
    expect(listed.stdout).not.toContain(first);
    expect(listed.stdout).not.toContain(second);
    const secrets = JSON.parse(listed.stdout) as Array<{ id: string; state: string }>;
    expect(secrets.map((s) => s.state)).toEqual(['current', 'previous']);

    const ended = await cli(db, ['clients', 'end-overlap', clientId, secrets[1]!.id]);
    expect(ended.code, ended.stderr).toBe(0);
    expect(JSON.parse((await cli(db, ['clients', 'secrets', clientId, '--json'])).stdout)).toHaveLength(1);

    const unknown = await cli(db, ['clients', 'rotate-secret', 'no-such-client']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^gatehouse: no such client: no-such-client/);
    const badOverlap = await cli(db, ['clients', 'rotate-secret', clientId, '--overlap', 'soon']);
    expect(badOverlap.code).not.toBe(0);
    expect((await cli(db, ['clients', 'rotate-secret', '--help'])).stdout).toMatch(/--overlap <duration>/);

    const user = await cli(db, ['users', 'add', 'opal', '--password-stdin'], { stdin: 'correct horse battery staple\n' });
    expect(user.code, user.stderr).toBe(0);
    expect((await cli(db, ['users', 'set-admin', 'opal'])).stdout).toMatch(/granted admin permission to opal/);
    expect(JSON.parse((await cli(db, ['users', 'show', 'opal', '--json'])).stdout)).toMatchObject({ admin: true });
    expect((await cli(db, ['users', 'set-admin', 'opal', '--revoke'])).stdout).toMatch(/revoked/);
    expect(JSON.parse((await cli(db, ['users', 'show', 'opal', '--json'])).stdout)).toMatchObject({ admin: false });
  });
});
