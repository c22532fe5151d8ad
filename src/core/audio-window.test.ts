import { describe, expect, it } from 'vitest';
import { AudioWindow } from './audio-window';

const seq = (from: number, n: number) => Float32Array.from({ length: n }, (_, i) => from + i);

describe('AudioWindow', () => {
  it('keeps a contiguous span across the wrap point', () => {
    const w = new AudioWindow(10);
    w.resetAt(100);
    w.append(seq(100, 8));
    w.dropBefore(106);
    w.append(seq(108, 6)); // wraps
    expect(w.startSample).toBe(106);
    expect(w.endSample).toBe(114);
    expect([...w.slice(105, 200)]).toEqual([106, 107, 108, 109, 110, 111, 112, 113]);
    expect([...w.slice(109, 111)]).toEqual([109, 110]);
  });

  it('refuses to grow past its capacity', () => {
    const w = new AudioWindow(4);
    w.append(seq(0, 3));
    expect(w.freeSamples).toBe(1);
    expect(() => w.append(seq(3, 2))).toThrow(/full/);
  });

  it('dropBefore beyond the end empties it', () => {
    const w = new AudioWindow(4);
    w.append(seq(0, 3));
    w.dropBefore(10);
    expect(w.startSample).toBe(3);
    expect(w.freeSamples).toBe(4);
  });
});
