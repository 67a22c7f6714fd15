// A migrated embedded database, made once per test run and copied into each
// test's data directory by freshDatabase('embedded').
//
// PGlite runs initdb in WebAssembly on a new directory: 3-5 s of CPU on this
// machine, for every test file and every extra node a test starts. Copying a
// closed, migrated directory takes about 0.6 s, and the copy opens in about
// 0.1 s. Tests of migrations and first starts ask for an empty database
// (`freshDatabase(kind, { empty: true })`): not migrated, and seeded from the
// initdb template a first start uses (src/db/embedded-template.ts).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

import { openEmbedded } from '../../src/db/embedded.js';
import { ensureEmbeddedTemplate } from '../../src/db/embedded-template.js';
import { migrate } from '../../src/db/migrate.js';

/** Builds the template and provides its directory as inject('embeddedTemplate'); returns the teardown. */
export async function provideEmbeddedTemplate(project: TestProject): Promise<() => Promise<void>> {
  // The install-time initdb template (src/db/embedded-template.ts), made here if `npm run build` has not run.
  await ensureEmbeddedTemplate();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-embedded-template-'));
  const db = await openEmbedded(dir);
  try {
    await migrate(db);
  } finally {
    await db.close();
  }
  project.provide('embeddedTemplate', path.join(dir, 'pglite'));
  return () => rm(dir, { recursive: true, force: true });
}
