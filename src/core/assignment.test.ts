import { describe, expect, it } from 'vitest';
import { maxWeightAssignment } from './assignment';
import { mulberry32 } from './prng';

describe('maxWeightAssignment', () => {
  const random = mulberry32;

  /** Best total weight over all one-to-one partial assignments, by brute force. */
  function bruteForce(w: number[][], row = 0, used = new Set<number>()): number {
    if (row === w.length) return 0;
    let best = bruteForce(w, row + 1, used); // row unassigned
    for (let j = 0; j < (w[0]?.length ?? 0); j++) {
      if (used.has(j)) continue;
      used.add(j);
      best = Math.max(best, w[row]![j]! + bruteForce(w, row + 1, used));
      used.delete(j);
    }
    return best;
  }

  it('finds the optimum on random matrices of every shape up to 6 x 6', () => {
    const rnd = random(42);
    for (let rows = 1; rows <= 6; rows++) {
      for (let cols = 1; cols <= 6; cols++) {
        for (let trial = 0; trial < 5; trial++) {
          const w = Array.from({ length: rows }, () =>
            Array.from({ length: cols }, () => (rnd() < 0.3 ? 0 : Math.round(rnd() * 100))),
          );
          const a = maxWeightAssignment(w);
          const cols_ = a.filter((j) => j >= 0);
          expect(new Set(cols_).size).toBe(cols_.length);
          const total = a.reduce((s, j, i) => s + (j >= 0 ? w[i]![j]! : 0), 0);
          expect(total).toBe(bruteForce(w));
        }
      }
    }
  });

  it('handles empty matrices', () => {
    expect(maxWeightAssignment([])).toEqual([]);
    expect(maxWeightAssignment([[], []])).toEqual([-1, -1]);
  });
});
