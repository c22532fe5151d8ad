import { describe, expect, it } from 'vitest';
import { bestNormalizedCorrelation } from './correlation';

function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

describe('bestNormalizedCorrelation', () => {
  it('finds a scaled copy at its lag with correlation 1', () => {
    const played = noise(1000, 1);
    const recorded = new Float32Array(5000);
    for (let i = 0; i < played.length; i++) recorded[1234 + i] = 0.3 * played[i]!;
    const r = bestNormalizedCorrelation(recorded, played);
    expect(r.lag).toBe(1234);
    expect(r.peak).toBeCloseTo(1, 6);
  });

  it('is low for unrelated signals', () => {
    const r = bestNormalizedCorrelation(noise(5000, 2), noise(1000, 3));
    expect(r.peak).toBeLessThan(0.2);
  });
});
