import { describe, expect, jest, test } from '@jest/globals';
import { ProgressReporter, type ProgressSink } from '../../src/worker/progress.js';
import { Ticker, tickIntervalMs } from '../../src/worker/ticker.js';
import type { JobProgress } from '../../src/connectors/types.js';

function recorder(): { writes: JobProgress[]; write: ProgressSink } {
  const writes: JobProgress[] = [];
  return {
    writes,
    write: { writeProgress: async p => void writes.push(p), progressWriteFailed: () => undefined },
  };
}

/** A reporter ticked as the processor ticks its jobs (call under fake timers). */
function tickedReporter(connector: string, minIntervalMs: number, sink: ProgressSink): ProgressReporter {
  const reporter = new ProgressReporter(connector, minIntervalMs, sink);
  new Ticker(tickIntervalMs(minIntervalMs), () => [reporter]).start();
  return reporter;
}

describe('ProgressReporter', () => {
  test('a job that finishes within the first interval writes nothing at all', async () => {
    const { writes, write } = recorder();
    const reporter = new ProgressReporter('simulation', 10_000, write);
    for (let i = 1; i <= 100; i++) reporter.report({ progress: i });
    await reporter.finish(true);
    expect(writes).toEqual([]);
  });

  test('1,000 reports in a burst become at most a few writes, latest value winning, then a final 100', async () => {
    jest.useFakeTimers();
    try {
      const { writes, write } = recorder();
      const reporter = tickedReporter('simulation', 100, write);
      for (let i = 0; i < 1000; i++) {
        reporter.report({ progress: i / 10, message: `report ${i}` });
        if (i % 100 === 99) await jest.advanceTimersByTimeAsync(20);
      }
      await jest.advanceTimersByTimeAsync(200);
      await reporter.finish(true);
      expect(writes.length).toBeGreaterThan(0);
      expect(writes.length).toBeLessThanOrEqual(4);
      const beforeFinal = writes[writes.length - 2];
      expect(beforeFinal?.message).toBe('report 999');
      expect(writes[writes.length - 1]).toMatchObject({
        progress: 100,
        status: 'completed',
        connector: 'simulation',
      });
    } finally {
      jest.useRealTimers();
    }
  });

  test('progress never decreases and is an integer 0-100', async () => {
    jest.useFakeTimers();
    try {
      const { writes, write } = recorder();
      const reporter = tickedReporter('x', 10, write);
      const values = [5.7, 50, 20, 150, -3, 99.9];
      for (const value of values) {
        reporter.report({ progress: value });
        await jest.advanceTimersByTimeAsync(20);
      }
      await reporter.finish(false);
      const percents = writes.map(w => w.progress);
      expect(percents).toEqual([5, 50, 50, 100, 100, 100]);
      for (const p of percents) expect(Number.isInteger(p)).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });

  test('a failed job does not get a final 100', async () => {
    jest.useFakeTimers();
    try {
      const { writes, write } = recorder();
      const reporter = tickedReporter('x', 10, write);
      reporter.report({ progress: 40 });
      await jest.advanceTimersByTimeAsync(20);
      await reporter.finish(false);
      expect(writes.map(w => w.progress)).toEqual([40]);
    } finally {
      jest.useRealTimers();
    }
  });

  test('every field of a report reaches the written object', () => {
    const reporter = new ProgressReporter('comfyui', 10_000, recorder().write);
    const update = {
      progress: 42,
      status: 'sampling',
      message: 'KSampler 12/30',
      eta: 9,
      step: 12,
      total_steps: 30,
      node: '3',
      class_type: 'KSampler',
    };
    reporter.report(update);
    expect(reporter.current()).toEqual({ ...update, connector: 'comfyui' });
    reporter.report({ progress: 10, message: 'later' });
    expect(reporter.current()).toMatchObject({ progress: 42, message: 'later', node: '3' });
  });
});
