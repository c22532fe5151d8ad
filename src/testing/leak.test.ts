import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { assertNoLeak, measureLeak } from './leak';

describe('the leak-test method', () => {
  it('catches an operation that keeps 4 KiB per call', async () => {
    const kept: Uint8Array[] = [];
    const report = await measureLeak(() => {
      kept.push(new Uint8Array(4096).fill(1));
    });
    expect(() => assertNoLeak(report)).toThrow(/heap grew \d+ bytes over 100 rounds/);
  });

  it('divides the growth by the operations run between the two samples it compares', async () => {
    // 256 KiB kept per call: far above GC noise and per-object overhead, so the
    // figure must come out at 256 KiB per operation, not 10/9 of it (100 operations
    // run between the samples after 11 and 111, not 90).
    const perCall = 256 * 1024;
    const kept: Uint8Array[] = [];
    const report = await measureLeak(() => {
      kept.push(new Uint8Array(perCall).fill(1));
    });
    expect(report.samples.map((s) => [s.batchRounds, s.roundsSoFar])).toEqual([
      [1, 1],
      [10, 11],
      [100, 111],
    ]);
    expect(report.heapRounds).toBe(100);
    expect(report.heapPerRound).toBe(report.heapGrowth / 100);
    expect(report.heapPerRound / perCall).toBeGreaterThan(0.97);
    expect(report.heapPerRound / perCall).toBeLessThan(1.03);
    expect(kept.length).toBe(10 + 111);
  });

  it('catches an operation that keeps a file descriptor open', async () => {
    const fds: number[] = [];
    const report = await measureLeak(() => {
      fds.push(fs.openSync('/dev/null', 'r'));
    });
    for (const fd of fds) fs.closeSync(fd);
    expect(() => assertNoLeak(report)).toThrow(/open fds grew \d+ -> \d+ over 110 rounds/);
  });

  it('passes an operation that keeps nothing', async () => {
    const report = await measureLeak(() => {
      new Uint8Array(4096).fill(1);
    });
    assertNoLeak(report);
  });
});
