import { describe, expect, it } from 'vitest';
import { slopePerX } from './least-squares';

describe('slopePerX', () => {
  it('recovers the slope of a noisy line', () => {
    const xs = Array.from({ length: 50 }, (_, i) => i);
    const ys = xs.map((x) => 3 + 0.25 * x + (x % 2 === 0 ? 0.1 : -0.1));
    expect(slopePerX(xs, ys)).toBeCloseTo(0.25, 2);
  });

  it('is 0 for a flat series, and moved less than a first-to-last difference by one outlier', () => {
    expect(slopePerX([0, 1, 2, 3], [5, 5, 5, 5])).toBe(0);
    // One high outlier at the end moves the slope less than the difference.
    const s = slopePerX([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 1, 1, 1, 1, 1, 1, 1, 10]);
    expect(s).toBeLessThan(9 / 9);
    expect(s).toBeGreaterThan(0);
  });

  it('refuses what has no slope', () => {
    expect(() => slopePerX([1], [1])).toThrow(/two points/);
    expect(() => slopePerX([2, 2], [1, 3])).toThrow(/equal/);
    expect(() => slopePerX([1, 2], [1])).toThrow(/length/);
  });
});
