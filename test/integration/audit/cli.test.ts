/**
 * `gatehouse audit verify|tail|search`, run as the real CLI against a database
 * a real server wrote: operator commands are audited too, and verify names
 * a tampered row with exit status 3.
 */
import { describe, expect, it } from 'vitest';

import { cli } from '../../support/cli.js';
import { freshDatabase, integrationDbKind } from '../../support/databases.js';
import { startTestGatehouse } from '../../support/gatehouse.js';
import { withServices } from '../../support/cli.js';
import { basic, tokenRequest } from '../../support/requests.js';

describe('gatehouse audit', () => {
  it('verifies, tails and searches the chain, and names a tampered row', { timeout: 240_000 }, async () => {
    const database = await freshDatabase(integrationDbKind());
    try {
      const gh = await startTestGatehouse({ database });
      const client = await gh.createClient({ type: 'service', name: 'cli-audited' });
      for (let i = 0; i < 3; i += 1) await (await tokenRequest(gh.issuer, { grant_type: 'client_credentials' }, { authorization: basic(client.clientId, client.clientSecret!) })).arrayBuffer();
      await gh.close(); // embedded PostgreSQL serves one process: the server stops before the CLI runs

      // An operator command lands in the same chain, with the operator as actor.
      const added = await cli(database, ['clients', 'add', '--type', 'service', '--name', 'Added by CLI', '--json']);
      expect(added.code, added.stderr).toBe(0);

      const intact = await cli(database, ['audit', 'verify']);
      expect(intact.code, intact.stderr).toBe(0);
      expect(intact.stdout).toMatch(/^audit chain intact: \d+ events, head at seq \d+ \([0-9a-f]{64}\)\n$/);

      const tail = await cli(database, ['audit', 'tail', '-n', '2', '--json']);
      expect(tail.code, tail.stderr).toBe(0);
      const last = JSON.parse(tail.stdout) as Array<Record<string, unknown>>;
      expect(last).toHaveLength(2);
      expect(last.at(-1)).toMatchObject({ actor: 'operator', outcome: 'success' });
      expect(Number(last[1]!.seq)).toBe(Number(last[0]!.seq) + 1);

      const search = await cli(database, ['audit', 'search', '--since', '1h', '--type', 'token.', '--actor', client.clientId, '--json']);
      expect(search.code, search.stderr).toBe(0);
      const found = JSON.parse(search.stdout) as Array<Record<string, unknown>>;
      expect(found.map((e) => e.type)).toEqual(['token.issued', 'token.issued', 'token.issued']);
      expect(found[0]).toMatchObject({ client_id: client.clientId, ip: '127.0.0.1', detail: { grantType: 'client_credentials' } });

      const table = await cli(database, ['audit', 'search', '--since', '2000-01-01', '--type', 'token.issued']);
      expect(table.stdout.split('\n')[0]).toMatch(/^SEQ\s+TIME\s+TYPE\s+OUTCOME\s+ACTOR\s+SUBJECT\s+CLIENT\s+IP\s+REQUEST$/);
      const bad = await cli(database, ['audit', 'search', '--since', 'yesterday-ish']);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/ISO 8601 date or a duration/);

      const target = Number(found[1]!.seq);
      await withServices(database, async (_services, db) => {
        // What someone with the table owner's rights could do: switch the append-only trigger off, edit.
        await db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
        await db.query("UPDATE audit_events SET actor = 'someone-else' WHERE seq = $1", [target]);
      });
      const broken = await cli(database, ['audit', 'verify']);
      expect(broken.code).toBe(3);
      expect(broken.stdout).toBe(`seq ${target}: edited: row ${target} (token.issued) was edited: its content does not match its hash\n`);
      expect(broken.stderr).toBe('gatehouse: the audit chain is broken in 1 place\n');
      const report = await cli(database, ['audit', 'verify', '--json']);
      expect(JSON.parse(report.stdout)).toMatchObject({ ok: false, problems: [{ seq: target, kind: 'edited' }] });
    } finally {
      await database.cleanup();
    }
  });
});
