import { describe, expect, it } from 'vitest';
import { RealFft } from './fft';
import { mulberry32 } from './prng';

/** Deterministic pseudo-random numbers in [-1, 1). */
function random(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

function directDft(x: number[], n: number): { re: number[]; im: number[] } {
  const re: number[] = [];
  const im: number[] = [];
  for (let k = 0; k <= n / 2; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      const v = x[t] ?? 0;
      sr += v * Math.cos((2 * Math.PI * k * t) / n);
      si -= v * Math.sin((2 * Math.PI * k * t) / n);
    }
    re.push(sr);
    im.push(si);
  }
  return { re, im };
}

describe('RealFft', () => {
  it.each([4, 8, 16, 64, 512])('matches a direct DFT at size %i', (n) => {
    const rnd = random(n);
    const x = Array.from({ length: n }, rnd);
    const fft = new RealFft(n);
    const re = new Float64Array(fft.bins);
    const im = new Float64Array(fft.bins);
    fft.forward(x, re, im);
    const ref = directDft(x, n);
    for (let k = 0; k <= n / 2; k++) {
      expect(re[k]).toBeCloseTo(ref.re[k]!, 9);
      expect(im[k]).toBeCloseTo(ref.im[k]!, 9);
    }
    const power = new Float64Array(fft.bins);
    fft.powerSpectrum(x, power);
    for (let k = 0; k <= n / 2; k++) {
      expect(power[k]).toBeCloseTo(ref.re[k]! ** 2 + ref.im[k]! ** 2, 7);
    }
  });

  it('zero-pads a shorter input', () => {
    const x = [1, 2, 3];
    const fft = new RealFft(8);
    const re = new Float64Array(5);
    const im = new Float64Array(5);
    fft.forward(x, re, im);
    const ref = directDft([1, 2, 3, 0, 0, 0, 0, 0], 8);
    for (let k = 0; k <= 4; k++) {
      expect(re[k]).toBeCloseTo(ref.re[k]!, 12);
      expect(im[k]).toBeCloseTo(ref.im[k]!, 12);
    }
  });

  it('rejects sizes that are not powers of two and short outputs', () => {
    expect(() => new RealFft(6)).toThrow(RangeError);
    expect(() => new RealFft(2)).toThrow(RangeError);
    const fft = new RealFft(8);
    expect(() => fft.powerSpectrum([1], new Float64Array(4))).toThrow(RangeError);
  });
});
