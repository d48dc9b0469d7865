// Debian's Chromium, driven by playwright-core, as the browser tests start it: headless, with
// no background networking (this machine's network is closed, and Chromium would otherwise try
// Google's hosts at every start), in a fresh profile. No browser is downloaded.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A browser context in a fresh profile; `close()` closes it and deletes the profile. Every
 * request to a host other than 127.0.0.1 is aborted and passed to `offHost` (if given).
 */
export async function launchBrowser({ offHost } = {}) {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  const profileDir = await mkdtemp(join(tmpdir(), 'smilecook-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1400, height: 900 },
  });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname !== '127.0.0.1') {
      offHost?.(url.href);
      return route.abort();
    }
    return route.continue();
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}
