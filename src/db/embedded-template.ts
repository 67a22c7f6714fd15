/**
 * A freshly initialised embedded database, made once at install (`npm run
 * build` runs this file) and copied into a new data directory on its first
 * start. PGlite runs PostgreSQL's initdb in WebAssembly: 3-5 s and a peak of
 * about 900 MB on a 2-core machine, against 0.6 s and no WebAssembly heap
 * for a copy. The copy is taken only for a data directory that has no
 * database yet; migrations still run at start as always.
 *
 * The template depends only on the PGlite version (initdb's output), so it is
 * kept under node_modules/.cache, keyed by that version, and rebuilt by the
 * next install when PGlite changes. Without it a first start runs initdb.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { PGlite } from '@electric-sql/pglite';

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The installed PGlite's version, from its package.json (not exported, so found next to its entry point). */
function pgliteVersion(): string {
  let dir = path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Where the template for the installed PGlite lives. */
export function embeddedTemplateDir(root = packageRoot): string {
  return path.join(root, 'node_modules', '.cache', 'gatehouse', `pglite-${pgliteVersion()}`);
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/** Copies the template into `dir` if `dir` holds no database yet and a template exists; true when it did. */
export async function seedFromTemplate(dir: string, template = embeddedTemplateDir()): Promise<boolean> {
  if ((await exists(path.join(dir, 'PG_VERSION'))) || !(await exists(path.join(template, 'PG_VERSION')))) return false;
  await cp(template, dir, { recursive: true, force: false, errorOnExist: false });
  return true;
}

/** Makes the template if it is missing; concurrent callers are safe (build aside, then rename). */
export async function ensureEmbeddedTemplate(template = embeddedTemplateDir()): Promise<string> {
  if (await exists(path.join(template, 'PG_VERSION'))) return template;
  await mkdir(path.dirname(template), { recursive: true });
  const scratch = await mkdtemp(`${template}.building-`);
  try {
    const pglite = await PGlite.create(scratch);
    await pglite.close();
    await rename(scratch, template).catch(async (error: NodeJS.ErrnoException) => {
      // Another process finished first: theirs is as good as ours.
      if (!(await exists(path.join(template, 'PG_VERSION')))) throw error;
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return template;
}

// `node dist/db/embedded-template.js`: the build's last step.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  const template = await ensureEmbeddedTemplate();
  process.stdout.write(`embedded database template ready in ${path.relative(process.cwd(), template) || template} (${Math.round(performance.now() - started)} ms)\n`);
}
