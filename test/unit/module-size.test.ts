/**
 * No module in src/ grows past about 300 lines (STYLE.md: a module that long
 * is asking to be split by concern). The limit has a little slack so a file
 * at 301 lines does not fail the build; over it, the test names every file.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const limit = 320;
const srcDir = fileURLToPath(new URL('../../src', import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : Promise.resolve(e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))),
  );
  return nested.flat();
}

/** Lines as `wc -l` counts them. */
const lineCount = (text: string) => text.split('\n').length - (text.endsWith('\n') ? 1 : 0);

describe('module size', () => {
  it(`keeps every module in src/ at or under ${limit} lines`, async () => {
    const files = await sourceFiles(srcDir);
    expect(files.length).toBeGreaterThan(50);
    const sizes = await Promise.all(files.map(async (file) => ({ file: path.relative(srcDir, file), lines: lineCount(await readFile(file, 'utf8')) })));
    const oversized = sizes.filter((s) => s.lines > limit).map((s) => `src/${s.file}: ${s.lines} lines`);
    expect(oversized).toEqual([]);
  });
});
