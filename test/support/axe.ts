/**
 * The accessibility check of the browser tests (issue 16): axe-core run in
 * the page as it is, WCAG 2.0/2.1/2.2 A and AA plus axe's best practices
 * (landmarks, one h1, headings in order). Any violation fails the test with
 * the rule, its help text and the elements it found.
 *
 * The script is evaluated through the DevTools protocol (page.evaluate),
 * which the page's Content Security Policy does not govern, so the page keeps
 * its strict policy (no bypassCSP) and the tests that assert "no CSP
 * violation" stay meaningful on the same page.
 */
import { createRequire } from 'node:module';

import type { Page } from 'playwright-core';
import { expect } from 'vitest';

const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

interface Found {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** The violations axe finds on the page now, one readable line each. */
export async function axeViolations(page: Page): Promise<string[]> {
  const loaded = await page.evaluate(() => typeof (globalThis as { axe?: unknown }).axe === 'object');
  if (!loaded) await page.evaluate(axeSource);
  const found = await page.evaluate(async (values: string[]) => {
    const axe = (globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const result = await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.map(String).join(' ')) }));
  }, tags) as Found[];
  return found.map((v) => `${v.id} (${v.impact ?? 'n/a'}): ${v.help} — ${v.targets.join(', ')}`);
}

/** Fails with the page's address and every violation when axe finds any. */
export async function expectAccessible(page: Page, what = page.url()): Promise<void> {
  const violations = await axeViolations(page);
  expect(violations, `accessibility violations on ${what}`).toEqual([]);
}
