import { afterEach, describe, expect, it } from 'vitest';
import { AlignedClock } from './aligned-clock';
import type { IDisposable } from '../../core/lifecycle';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Times (ms after the clock's origin) at which each named task ran. */
function record(clock: AlignedClock, origin: number, periods: Record<string, number>) {
  const runs: Record<string, number[]> = {};
  const subs: IDisposable[] = [];
  for (const [name, period] of Object.entries(periods)) {
    runs[name] = [];
    subs.push(clock.every(name, period, () => runs[name]!.push(performance.now() - origin)));
  }
  return { runs, dispose: () => subs.forEach((s) => s.dispose()) };
}

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

describe('AlignedClock', () => {
  it('runs tasks whose periods divide one another in the same wake-ups', async () => {
    const origin = performance.now();
    const clock = new AlignedClock(origin);
    const r = record(clock, origin, { fast: 40, slow: 80, slower: 160 });
    stop = r.dispose;
    await sleep(500);
    r.dispose();
    for (const [name, period] of [
      ['fast', 40],
      ['slow', 80],
      ['slower', 160],
    ] as const) {
      // At most once per grid point (a late event loop may skip one, as setInterval does).
      const runs = r.runs[name]!.length;
      expect(runs, name).toBeGreaterThanOrEqual(Math.floor(400 / period) - 1);
      expect(runs, name).toBeLessThanOrEqual(Math.ceil(500 / period) + 1);
      // Never before its grid point: the k-th run is at or after k periods.
      r.runs[name]!.forEach((t, k) =>
        expect(t, `${name} run ${k}`).toBeGreaterThan((k + 1) * period - 3),
      );
    }
    // Separate timers would wake the process once per run of each task; on
    // one grid the slow tasks add no wake-up of their own.
    expect(clock.wakeCount).toBeLessThanOrEqual(r.runs.fast!.length + 2);
    expect(r.runs.slow!.length + r.runs.slower!.length).toBeGreaterThan(4);
  });

  it('stops a task when its disposable is disposed, and holds no timer once none is left', async () => {
    const clock = new AlignedClock();
    let a = 0;
    let b = 0;
    const ta = clock.every('a', 20, () => a++);
    const tb = clock.every('b', 20, () => b++);
    stop = () => {
      ta.dispose();
      tb.dispose();
    };
    await sleep(70);
    ta.dispose();
    const aAtDispose = a;
    await sleep(70);
    expect(a).toBe(aAtDispose);
    expect(b).toBeGreaterThan(aAtDispose);
    tb.dispose();
    expect(clock.taskCount).toBe(0);
  });

  it('a task that throws does not stop the others nor the clock', async () => {
    const clock = new AlignedClock();
    const errors: unknown[] = [];
    const { setUnexpectedErrorHandler } = await import('../../core/unexpected-error');
    const previous = setUnexpectedErrorHandler((e) => errors.push(e));
    let ran = 0;
    const bad = clock.every('bad', 20, () => {
      throw new Error('tick failed');
    });
    const good = clock.every('good', 20, () => ran++);
    stop = () => {
      bad.dispose();
      good.dispose();
      setUnexpectedErrorHandler(previous);
    };
    await sleep(90);
    expect(ran).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect((errors[0] as Error).message).toBe('tick failed');
  });

  it('refuses a period that is not a positive number', () => {
    const clock = new AlignedClock();
    expect(() => clock.every('x', 0, () => {})).toThrow(/positive period/);
    expect(() => clock.every('x', Number.NaN, () => {})).toThrow(/positive period/);
  });
});
