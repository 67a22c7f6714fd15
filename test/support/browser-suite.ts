/**
 * The shared frame of a browser test file: one Gatehouse and one Chromium for
 * the file, and browser sessions (and anything else a test opens) closed
 * after each test.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';

import { launchBrowser, openSession, type BrowserSession } from './browser.js';
import { startTestGatehouse, type TestGatehouse } from './gatehouse.js';

export interface BrowserSuite {
  /** Set once the file's beforeAll has run. */
  readonly gatehouse: TestGatehouse;
  session(options?: Parameters<typeof openSession>[1]): Promise<BrowserSession>;
  /** Closes it after the current test. */
  closeAfterTest(closable: { close(): Promise<void> }): void;
}

export function browserSuite(options: Parameters<typeof startTestGatehouse>[0] = {}): BrowserSuite {
  let gatehouse: TestGatehouse | undefined;
  let browser: Browser | undefined;
  const open: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    [gatehouse, browser] = await Promise.all([startTestGatehouse(options), launchBrowser()]);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await browser?.close();
    await gatehouse?.close();
  });

  return {
    get gatehouse() {
      if (!gatehouse) throw new Error('browserSuite: Gatehouse is not started yet (use it inside tests or hooks)');
      return gatehouse;
    },
    async session(sessionOptions = {}) {
      if (!browser) throw new Error('browserSuite: Chromium is not launched yet');
      const s = await openSession(browser, sessionOptions);
      open.push(s);
      return s;
    },
    closeAfterTest(closable) {
      open.push(closable);
    },
  };
}
