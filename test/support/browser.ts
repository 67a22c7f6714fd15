/**
 * Real Chromium for browser tests: one browser per test file, a fresh context
 * (cookies, storage, viewport, JavaScript on or off) per test, and a record of
 * what went wrong on the pages so a test can assert that nothing did.
 */
import { mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

/** The system Chromium; override with CHROMIUM_PATH. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Root (no sandbox), headless, and a closed network: no background fetches,
// no component updates, no QUIC probes that would only add noise and delay.
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: [...chromiumArgs] });
}

/** iPhone 12–15 sized CSS viewport, rendered as a phone (meta viewport honoured, touch). */
export const phone: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 3,
  isMobile: true,
  hasTouch: true,
};

export interface PageProblems {
  /** console.error messages (includes blocked loads and CSP reports). */
  consoleErrors: string[];
  /** Console messages about the Content Security Policy, whatever their level. */
  cspViolations: string[];
  /** Uncaught exceptions in page scripts. */
  pageErrors: string[];
  /** alert/confirm/prompt dialogs that opened (each is dismissed). */
  dialogs: string[];
  /**
   * Failed loads of /favicon.ico, which Chromium requests on its own after a
   * page without `<link rel="icon">` has loaded, and reports as a console error
   * whenever it happens to get to it before the test moves on. Kept apart so
   * that race cannot make unrelated tests flaky; assert the icon separately.
   */
  faviconErrors: string[];
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  problems: PageProblems;
  close(): Promise<void>;
}

const cspMention = /content security policy/i;

function isFaviconFailure(url: string, text: string): boolean {
  try {
    return new URL(url).pathname === '/favicon.ico' && /^Failed to load resource/.test(text);
  } catch {
    return false;
  }
}

/**
 * A fresh context and page. Problems are collected from every page the
 * context opens, so a popup or a second tab is covered too.
 */
export async function openSession(browser: Browser, options: BrowserContextOptions = {}): Promise<BrowserSession> {
  const context = await browser.newContext({ locale: 'en-US', ...options });
  const problems: PageProblems = { consoleErrors: [], cspViolations: [], pageErrors: [], dialogs: [], faviconErrors: [] };
  context.on('console', (message) => {
    const where = message.location().url || message.page()?.url() || 'unknown page';
    const text = `${message.type()}: ${message.text()} (${where})`;
    if (cspMention.test(message.text())) problems.cspViolations.push(text);
    if (message.type() !== 'error') return;
    if (isFaviconFailure(where, message.text())) problems.faviconErrors.push(text);
    else problems.consoleErrors.push(text);
  });
  context.on('weberror', (error) => problems.pageErrors.push(String(error.error())));
  context.on('dialog', (dialog) => {
    problems.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss().catch(() => undefined);
  });
  const page = await context.newPage();
  return {
    context,
    page,
    problems,
    close: () => context.close(),
  };
}

/** Every problem as one list, for `expect(allProblems(p)).toEqual([])` with readable failures. */
export function allProblems(problems: PageProblems): string[] {
  return [
    ...problems.consoleErrors.map((m) => `console ${m}`),
    ...problems.cspViolations.filter((m) => !problems.consoleErrors.includes(m)).map((m) => `csp ${m}`),
    ...problems.pageErrors.map((m) => `pageerror ${m}`),
    ...problems.dialogs.map((m) => `dialog ${m}`),
  ];
}

/** Where screenshots are kept for people to look at; overwritten by every run. */
export const screenshotReviewDir = '/tmp/gatehouse-screens';

let screenshotRunDir: Promise<string> | undefined;

/**
 * Full-page PNG of `page`, written to a per-run temp dir and copied to
 * screenshotReviewDir/<name>.png. Returns both paths after checking the file
 * is not empty.
 */
export async function saveScreenshot(page: Page, name: string): Promise<{ path: string; reviewPath: string; bytes: number }> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`screenshot name must be kebab-case: ${name}`);
  screenshotRunDir ??= mkdtemp(path.join(os.tmpdir(), 'gatehouse-screens-'));
  const dir = await screenshotRunDir;
  const file = path.join(dir, `${name}.png`);
  const png = await page.screenshot({ path: file, fullPage: true });
  await mkdir(screenshotReviewDir, { recursive: true });
  const reviewPath = path.join(screenshotReviewDir, `${name}.png`);
  await writeFile(reviewPath, png);
  const { size } = await stat(file);
  return { path: file, reviewPath, bytes: size };
}
