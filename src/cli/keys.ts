import type { Command } from 'commander';

import { Option } from 'commander';

import { operator } from '../audit/events.js';
import { signingAlgorithms, type SigningAlgorithm } from '../keys/keystore.js';
import type { KeyStatus } from '../keys/lifecycle.js';
import { withContext } from './context.js';
import { CliError } from './errors.js';
import { isoDate, note, out, printJson, printTable } from './output.js';

/** Public facts about a key only: never the JWK, let alone the sealed private key. */
export function keyJson(key: KeyStatus) {
  return {
    kid: key.kid,
    alg: key.alg,
    state: key.state,
    created_at: isoDate(key.createdAt),
    activate_at: isoDate(key.activateAt),
    retire_at: isoDate(key.supersededAt),
    unpublish_at: isoDate(key.unpublishAt),
    revoked_at: isoDate(key.revokedAt),
  };
}

async function list(options: { json?: boolean }): Promise<void> {
  await withContext(async ({ services }) => {
    const keys = await services.keystore.list();
    if (options.json) return printJson(keys.map(keyJson));
    printTable(
      keys,
      [
        { header: 'KID', value: (k) => k.kid },
        { header: 'ALG', value: (k) => k.alg },
        { header: 'STATE', value: (k) => k.state },
        { header: 'CREATED', value: (k) => isoDate(k.createdAt) },
        { header: 'ACTIVATE_AT', value: (k) => isoDate(k.activateAt) },
        { header: 'RETIRE_AT', value: (k) => isoDate(k.supersededAt) },
        { header: 'UNPUBLISH_AT', value: (k) => isoDate(k.unpublishAt) },
        { header: 'REVOKED_AT', value: (k) => isoDate(k.revokedAt) },
      ],
      'no signing keys yet: the server creates them on its first start',
    );
  });
}

async function rotate(options: { alg: SigningAlgorithm; now?: boolean; json?: boolean }): Promise<void> {
  await withContext(async (context) => {
    const { kid, alg, activateAt } = await context.services.keystore.rotate(operator, { alg: options.alg, immediate: options.now === true });
    if (options.json) return printJson({ kid, alg, activate_at: isoDate(activateAt) });
    out(kid);
    if (options.now) {
      note(`${alg} key ${kid} signs now; relying parties whose cached JWKS predates it will refetch on the unknown kid`);
    } else {
      note(`${alg} key ${kid} is published now and starts signing at ${isoDate(activateAt)}`);
    }
  });
}

async function retire(kid: string): Promise<void> {
  await withContext(async (context) => {
    const { successor } = await context.services.keystore.retire(operator, kid);
    note(`key ${kid} no longer signs; it stays in the JWKS until every token it signed has expired`);
    if (successor) note(`key ${successor.kid} signs in its place (${successor.how === 'promoted' ? 'the staged key was activated early' : 'created and activated now'})`);
  });
}

async function revoke(kid: string, options: { yes?: boolean }): Promise<void> {
  if (!options.yes) {
    throw new CliError(`revoking ${kid} removes it from the JWKS at once: every ID token and JWT access token it signed stops verifying everywhere. Run again with --yes to revoke.`);
  }
  await withContext(async (context) => {
    const { successor } = await context.services.keystore.revoke(operator, kid);
    note(`key ${kid} is revoked and out of the JWKS on every node within seconds; tokens it signed no longer verify`);
    if (successor) note(`key ${successor.kid} signs in its place`);
  });
}

async function rewrap(): Promise<void> {
  await withContext(async (context) => {
    const done = await context.services.rewrapSealedSecrets(operator, (holder, n, total) => note(`${holder}: re-sealed ${n}/${total}`));
    for (const [holder, n] of Object.entries(done)) out(`${holder}: ${n} re-sealed`);
    note('everything is sealed under the current master secret; GATEHOUSE_MASTER_KEY_PREVIOUS can now be removed');
  });
}

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('inspect and rotate signing keys; re-seal secrets under a new master secret');

  keys
    .command('list')
    .description('list signing keys with their state and lifecycle dates')
    .option('--json', 'print a JSON array')
    .addHelpText('after', `
States: next (published, not yet signing), active (signing), retired (published
so tokens it signed still verify), expired (due for removal), revoked (removed
from the JWKS at once). RETIRE_AT is when a key stops (or stopped) signing;
UNPUBLISH_AT is when it leaves the JWKS.

Example:
  $ gatehouse keys list --json`)
    .action(list);

  keys
    .command('rotate')
    .description('stage a new signing key: published now, signing after GATEHOUSE_KEY_PUBLISH_DELAY')
    .addOption(new Option('--alg <alg>', 'algorithm of the new key').choices([...signingAlgorithms]).default('ES256'))
    .option('--now', 'sign with it immediately (relying parties with a stale JWKS cache briefly see an unknown kid)')
    .option('--json', 'print the new key as JSON')
    .addHelpText('after', `
Every node switches to the new key at its activation time, without a restart.

Examples:
  $ gatehouse keys rotate                 # ES256, signs after the publish delay
  $ gatehouse keys rotate --alg RS256 --now`)
    .action(rotate);

  keys
    .command('retire <kid>')
    .description('stop signing with a key now; it stays published until its tokens expire')
    .addHelpText('after', `
If the key was signing, the staged next key of its algorithm takes over early,
or a new key is created and signs at once.

A kid may begin with '-'; put -- before it so it is not read as an option.

Example:
  $ gatehouse keys retire -- 3bQ…`)
    .action(retire);

  keys
    .command('revoke <kid>')
    .description('remove a compromised key from the JWKS at once (its tokens stop verifying)')
    .option('--yes', 'confirm: tokens signed with this key will fail verification everywhere')
    .addHelpText('after', `
Example:
  $ gatehouse keys revoke --yes -- 3bQ…`)
    .action(revoke);

  keys
    .command('rewrap')
    .description('re-seal every stored secret (private keys, client secrets, TOTP seeds) under the current master secret')
    .addHelpText('after', `
Master-secret rotation without downtime:
  1. give every node GATEHOUSE_MASTER_KEY=<new> and GATEHOUSE_MASTER_KEY_PREVIOUS=<old>, restart them one by one;
  2. run \`gatehouse keys rewrap\` with the same two variables;
  3. remove GATEHOUSE_MASTER_KEY_PREVIOUS and restart the nodes one by one.`)
    .action(rewrap);
}
