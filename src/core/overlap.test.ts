import { describe, expect, it } from 'vitest';
import { mulberry32 } from './prng';
import { DEFAULT_OVERLAP, fitTwoVoices, isOverlapped } from './overlap';

function unit(v: ArrayLike<number>): Float32Array {
  const a = Float32Array.from(v);
  const n = Math.hypot(...a);
  return a.map((x) => x / n);
}

function gaussian(rnd: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
}

/** Three voices in 64 dimensions sharing a common part (cosine about 0.3), as real voices do. */
function voices(seed: number): Float32Array[] {
  const rnd = mulberry32(seed);
  const common = unit(Array.from({ length: 64 }, () => gaussian(rnd)));
  return Array.from({ length: 3 }, () =>
    unit(Array.from({ length: 64 }, (_, d) => 0.55 * common[d]! + gaussian(rnd) / 8)),
  );
}

const mix = (a: Float32Array, b: Float32Array, wa: number, wb: number) =>
  unit(a.map((x, i) => wa * x + wb * b[i]!));

describe('fitTwoVoices', () => {
  const v = voices(1);

  it('one voice is not an overlap, and keeps its speaker', () => {
    for (const [i, voice] of v.entries()) {
      const fit = fitTwoVoices(voice, v);
      expect(fit.dominant).toBe(i);
      expect(fit.single).toBeCloseTo(1, 5);
      expect(fit.mixed - fit.single).toBeLessThan(1e-6);
      expect(isOverlapped(fit)).toBe(false);
    }
  });

  it('a mix of two voices is an overlap of those two, the louder one dominant', () => {
    const fit = fitTwoVoices(mix(v[0]!, v[2]!, 0.6, 0.4), v);
    expect(fit.dominant).toBe(0);
    expect(fit.second).toBe(2);
    // The mix lies in the plane of the two centroids: it is explained exactly.
    expect(fit.mixed).toBeCloseTo(1, 5);
    expect(fit.share).toBeCloseTo(0.4, 2);
    expect(isOverlapped(fit)).toBe(true);
  });

  it('a voice barely touched by another (share under minShare) is not an overlap', () => {
    const fit = fitTwoVoices(mix(v[1]!, v[0]!, 0.92, 0.08), v);
    expect(fit.dominant).toBe(1);
    expect(fit.share).toBeLessThan(DEFAULT_OVERLAP.minShare);
    expect(isOverlapped(fit)).toBe(false);
  });

  it('noise around one voice is not an overlap, whatever its scale', () => {
    const rnd = mulberry32(7);
    let marked = 0;
    for (let trial = 0; trial < 200; trial++) {
      const scale = 0.5 + 10 * rnd();
      const w = v[trial % 3]!.map((x) => (x + 0.05 * gaussian(rnd)) * scale);
      const fit = fitTwoVoices(w, v);
      expect(fit.dominant).toBe(trial % 3);
      if (isOverlapped(fit)) marked++;
    }
    expect(marked).toBe(0);
  });

  it('a silent window (all zeros) and a single centroid: no overlap, no NaN', () => {
    const silent = fitTwoVoices(new Float32Array(64), v);
    expect(silent.single).toBe(0);
    expect(isOverlapped(silent)).toBe(false);
    const alone = fitTwoVoices(mix(v[0]!, v[1]!, 0.5, 0.5), [v[0]!]);
    expect(alone.second).toBe(-1);
    expect(isOverlapped(alone)).toBe(false);
  });

  it('refuses embeddings of another size, and no centroids', () => {
    expect(() => fitTwoVoices(new Float32Array(8), v)).toThrow(RangeError);
    expect(() => fitTwoVoices(v[0]!, [])).toThrow(RangeError);
  });
});
