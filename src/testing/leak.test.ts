import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { assertNoLeak, measureLeak } from './leak';

describe('the leak-test method', () => {
  it('catches an operation that keeps 4 KiB per call', async () => {
    const kept: Uint8Array[] = [];
    const report = await measureLeak(() => {
      kept.push(new Uint8Array(4096).fill(1));
    });
    expect(() => assertNoLeak(report)).toThrow(/heap grew/);
  });

  it('catches an operation that keeps a file descriptor open', async () => {
    const fds: number[] = [];
    const report = await measureLeak(() => {
      fds.push(fs.openSync('/dev/null', 'r'));
    });
    for (const fd of fds) fs.closeSync(fd);
    expect(() => assertNoLeak(report)).toThrow(/open fds grew/);
  });

  it('passes an operation that keeps nothing', async () => {
    const report = await measureLeak(() => {
      new Uint8Array(4096).fill(1);
    });
    assertNoLeak(report);
  });
});
