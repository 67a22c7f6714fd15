/**
 * A first start on a new data directory copies the install-time initdb
 * template (src/db/embedded-template.ts) instead of running initdb; a
 * directory that already holds a database is never touched.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { openEmbedded } from '../../../src/db/embedded.js';
import { embeddedTemplateDir, ensureEmbeddedTemplate, seedFromTemplate } from '../../../src/db/embedded-template.js';
import { migrate, readMigrations } from '../../../src/db/migrate.js';

const dirs: string[] = [];
const scratch = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gh-seed-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('the embedded initdb template', () => {
  it('seeds a new data directory, which then migrates and keeps its data', async () => {
    const template = await ensureEmbeddedTemplate();
    expect(template).toBe(embeddedTemplateDir());
    const dataDir = await scratch();
    const pgdir = path.join(dataDir, 'pglite');
    expect(await seedFromTemplate(pgdir)).toBe(true);
    expect((await stat(path.join(pgdir, 'PG_VERSION'))).isFile()).toBe(true);

    const db = await openEmbedded(dataDir);
    try {
      expect((await migrate(db)).applied).toHaveLength((await readMigrations()).length);
      await db.exec("CREATE TABLE seeded_marker (v text); INSERT INTO seeded_marker VALUES ('kept')");
    } finally {
      await db.close();
    }

    // A second start finds a database and copies nothing over it.
    expect(await seedFromTemplate(pgdir)).toBe(false);
    const again = await openEmbedded(dataDir);
    try {
      expect((await again.query<{ v: string }>('SELECT v FROM seeded_marker')).rows).toEqual([{ v: 'kept' }]);
      expect((await migrate(again)).applied).toEqual([]);
    } finally {
      await again.close();
    }
  });

  it('does nothing without a template (initdb runs as before)', async () => {
    const pgdir = path.join(await scratch(), 'pglite');
    expect(await seedFromTemplate(pgdir, path.join(await scratch(), 'no-template'))).toBe(false);
    await expect(stat(pgdir)).rejects.toThrow();
  });
});
