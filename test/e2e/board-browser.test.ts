import path from 'node:path';
import os from 'node:os';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import type { BoardServer } from '../../bull-board/board.js';
import { BOARD_PASSWORD, BOARD_USER, startTestBoard } from '../helpers/board.js';
import { startRuntime, waitForFinished, waitUntil, type RuntimeHarness } from '../helpers/runtime.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). Never downloaded. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The README's picture is refreshed with UPDATE_SCREENSHOT=1; other runs keep the tree clean. */
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOT === '1'
    ? 'docs/images/bull-board.png'
    : path.join(os.tmpdir(), 'emp-bull-board.png');

/** A job's card on the queue page: the nearest card around the link to the job. */
function jobCard(page: Page, queue: string, jobId: string): Locator {
  return page
    .locator(`a[href$="/queue/${queue}/${jobId}"]`)
    .locator('xpath=ancestor::div[contains(@class,"card-")][1]');
}

/** The percentage the card's progress ring shows, or undefined when it shows none. */
async function ringValue(card: Locator): Promise<number | undefined> {
  const ring = card.getByRole('progressbar');
  if ((await ring.count()) === 0) return undefined;
  const value = await ring.first().getAttribute('aria-valuenow');
  return value === null ? undefined : Number(value);
}

describe('Bull Board in real headless Chromium', () => {
  let harness: RuntimeHarness;
  let board: BoardServer;
  let browser: Browser;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: apt-get install -y chromium (.ci/run does), or set CHROMIUM_PATH`,
      );
    }
    harness = await startRuntime({ PROGRESS_MIN_INTERVAL_MS: '200' });
    // Some history, so the page looks like a queue in use.
    await harness.run('simulation', { steps: 2, duration_ms: 200, result: { image: 'warmup.png' } });
    await harness.run('simulation', { steps: 4, duration_ms: 0, fail_at_step: 3 });
    ({ board } = await startTestBoard(harness.prefix));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await board?.close();
    await harness?.close();
  });

  test.each([
    // Headless Chromium cannot show the login dialog: a challenge it has nothing to answer
    // with ends the navigation with an error; wrong credentials end on the 401 itself.
    ['no credentials', undefined, /^net::ERR_INVALID_AUTH_CREDENTIALS/],
    ['a wrong password', { username: BOARD_USER, password: 'not-the-password' }, /^status 401$/],
  ])('with %s the browser is refused (401 challenge, no board)', async (_label, httpCredentials, outcome) => {
    const context = await browser.newContext(httpCredentials ? { httpCredentials } : {});
    try {
      const page = await context.newPage();
      const result = await page.goto(new URL('queue/simulation', board.url).href).then(
        response => `status ${response?.status()}`,
        (error: unknown) =>
          error instanceof Error ? error.message.replace(/^page\.goto: /, '') : String(error),
      );
      expect(result).toMatch(outcome);
      await page.waitForLoadState('load');
      expect(await page.locator('#bull-board-sidebar').count()).toBe(0);
    } finally {
      await context.close();
    }
  });

  test('logged in, a running job shows its progress bar and, once done, its result', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: BOARD_USER, password: BOARD_PASSWORD },
      viewport: { width: 1400, height: 1000 },
    });
    try {
      const queue = harness.queue('simulation');
      const job = await queue.add('simulation', {
        steps: 20,
        duration_ms: 16_000,
        result: { image: 'cat-0001.png', seed: 42 },
      });
      const jobId = job.id ?? '';
      // Running, with progress written, before the page opens.
      await waitUntil(
        async () => {
          const current = await queue.getJob(jobId);
          const progress = current?.progress;
          return (
            typeof progress === 'object' &&
            progress !== null &&
            'progress' in progress &&
            Number(progress.progress) > 0
          );
        },
        20_000,
        'the job to report progress',
      );

      const page = await context.newPage();
      const response = await page.goto(new URL('queue/simulation', board.url).href);
      expect(response?.status()).toBe(200);
      const card = jobCard(page, 'simulation', jobId);
      await card.waitFor({ timeout: 20_000 });

      // The ring draws from our progress object's `progress` field while the job is active.
      let shown: number | undefined;
      await waitUntil(
        async () => {
          shown = await ringValue(card);
          return shown !== undefined && shown > 0;
        },
        20_000,
        'the progress ring of the running job',
      );
      expect(shown).toBeLessThan(100);
      expect(await queue.getJobState(jobId)).toBe('active');

      // The Progress tab shows the whole object: status, message, step.
      const progressTab = card.getByRole('tab', { name: 'Progress' });
      await progressTab.click();
      await waitUntil(
        async () => (await progressTab.getAttribute('aria-selected')) === 'true',
        5_000,
        'the Progress tab',
      );
      // Named: while tabs switch, the panel being left is still in the DOM for its exit animation.
      const panel = card.getByRole('tabpanel', { name: 'Progress' });
      await panel.getByText('"running"').first().waitFor({ timeout: 10_000 });
      expect(await panel.innerText()).toMatch(/total_steps:\s*20/);
      // The screenshot for the README: the ring part-way, the progress object beside it.
      await waitUntil(async () => ((await ringValue(card)) ?? 0) >= 30, 20_000, 'the ring to pass 30 %');
      expect(await queue.getJobState(jobId)).toBe('active');
      await page.mouse.move(0, 0);
      // Finite CSS transitions (the ring sweeping to its new value) are fast-forwarded.
      await page.screenshot({ path: SCREENSHOT, animations: 'disabled' });

      // After completion: the ring reaches 100 % and the Data tab shows the result.
      const finished = await waitForFinished(queue, jobId, 40_000);
      expect(await finished.getState()).toBe('completed');
      await waitUntil(async () => (await ringValue(card)) === 100, 20_000, 'the ring to reach 100 %');
      await card.getByRole('tab', { name: 'Data' }).click();
      const dataPanel = card.getByRole('tabpanel', { name: 'Data' });
      await dataPanel.getByText('"cat-0001.png"').first().waitFor({ timeout: 10_000 });
      const data = await dataPanel.innerText();
      expect(data).toMatch(/returnValue:\s*\{/);
      expect(data).toMatch(/status:\s*"success"/);
      expect(data).toContain('"cat-0001.png"');
    } finally {
      await context.close();
    }
    const png = fs.readFileSync(SCREENSHOT);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);
  }, 120_000);
});
