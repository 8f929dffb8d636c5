import { describe, expect, jest, test } from '@jest/globals';
import { Ticker, tickIntervalMs, type Ticking } from '../../src/worker/ticker.js';
import { WorkerMetrics } from '../../src/worker/metrics.js';
import { ActiveJobs, type ActiveJob } from '../../src/worker/processor.js';

describe('Ticker', () => {
  test('ticks the members its owner holds at each interval, with the time, and not after stop()', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const seen: Array<[string, number]> = [];
      const member = (name: string): Ticking => ({ tick: now => void seen.push([name, now]) });
      const members = new Map<string, Ticking>([['a', member('a')]]);
      const ticker = new Ticker(100, () => members.values());
      ticker.start();
      ticker.start();
      await jest.advanceTimersByTimeAsync(100);
      members.set('b', member('b'));
      await jest.advanceTimersByTimeAsync(100);
      members.delete('a');
      await jest.advanceTimersByTimeAsync(100);
      ticker.stop();
      await jest.advanceTimersByTimeAsync(500);
      expect(seen).toEqual([
        ['a', 1_000_100],
        ['a', 1_000_200],
        ['b', 1_000_200],
        ['b', 1_000_300],
      ]);
    } finally {
      jest.useRealTimers();
    }
  });

  test('the interval is a quarter of the progress interval, within 10-250 ms', () => {
    expect(tickIntervalMs(1000)).toBe(250);
    expect(tickIntervalMs(10_000)).toBe(250);
    expect(tickIntervalMs(200)).toBe(50);
    expect(tickIntervalMs(0)).toBe(10);
  });
});

describe('JobMeter', () => {
  test('a scrape shows every job exactly, whether or not its batch was full', async () => {
    const metrics = new WorkerMetrics();
    const meter = metrics.jobMeter('simulation');
    // 300 completed (one full batch of 256 and some held) and 5 failed attempts.
    for (let i = 0; i < 300; i++) meter.record(true, 0.05);
    for (let i = 0; i < 5; i++) meter.record(false, 2);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/emp_jobs_completed_total\{connector="simulation"\} 300\n/);
    expect(text).toMatch(
      /emp_job_duration_seconds_count\{connector="simulation",outcome="completed"\} 300\n/,
    );
    expect(text).toMatch(
      /emp_job_duration_seconds_bucket\{le="0.1",connector="simulation",outcome="completed"\} 300\n/,
    );
    expect(text).toMatch(
      /emp_job_duration_seconds_bucket\{le="0.01",connector="simulation",outcome="completed"\} 0\n/,
    );
    expect(text).toMatch(/emp_job_duration_seconds_count\{connector="simulation",outcome="failed"\} 5\n/);
    expect(text).toMatch(/emp_job_duration_seconds_sum\{connector="simulation",outcome="failed"\} 10\n/);
    // A second scrape adds nothing twice.
    meter.record(true, 0.05);
    expect(await metrics.registry.metrics()).toMatch(
      /emp_jobs_completed_total\{connector="simulation"\} 301\n/,
    );
  });
});

describe('ActiveJobs', () => {
  const job = (queue: string, id: string): ActiveJob => ({
    queue,
    id,
    connector: 'simulation',
    startedAt: 0,
    abort: () => undefined,
    tick: () => undefined,
  });

  test('finds a running job by queue and id, and forgets it once removed, whatever the order', () => {
    const active = new ActiveJobs();
    const jobs = [job('a', '1'), job('a', '2'), job('b', '1'), job('a', '3')];
    for (const each of jobs) active.add(each);
    expect(active.get('b', '1')).toBe(jobs[2]);
    expect(active.get('c', '1')).toBeUndefined();
    active.delete(jobs[0] as ActiveJob);
    active.delete(jobs[0] as ActiveJob);
    active.delete(jobs[2] as ActiveJob);
    expect(active.size).toBe(2);
    expect(active.get('a', '1')).toBeUndefined();
    expect(active.get('b', '1')).toBeUndefined();
    expect([...active.values()].map(each => `${each.queue}:${each.id}`).sort()).toEqual(['a:2', 'a:3']);
  });
});
