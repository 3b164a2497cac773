/** Debian's Chromium driven by playwright-core (never a downloaded browser), and screenshots under test-artifacts/. */
import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { chromium, type Page } from 'playwright-core';

export const ARTIFACTS = new URL('../../../../test-artifacts/', import.meta.url);

/** As root Chromium needs --no-sandbox; the networking flags keep it from calling out of this closed network. */
export const launchChromium = () =>
  chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });

/** Saves a full-page screenshot as test-artifacts/<name> and checks it was written. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = new URL(name, ARTIFACTS);
  await page.screenshot({ path: path.pathname, fullPage: true });
  assert.ok(statSync(path).size > 1000, `${name} was written`);
}
