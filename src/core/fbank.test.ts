import { describe, expect, it } from 'vitest';
import {
  applyCmn,
  computeFbank,
  FbankComputer,
  LOG_FLOOR,
  numFrames,
  WESPEAKER_FBANK_OPTIONS,
  type FbankWindow,
} from './fbank';
import { mulberry32 } from './prng';

/** Deterministic pseudo-random numbers in [-1, 1). */
function random(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

function sine(freq: number, seconds: number, amplitude = 0.5, rate = 16000): Float32Array {
  const out = new Float32Array(Math.round(seconds * rate));
  for (let i = 0; i < out.length; i++)
    out[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

/**
 * A deliberately naive Kaldi fbank written from the Kaldi sources' description,
 * sharing no code with the module: per-frame direct DFT in float64, mel weights
 * recomputed per bin, plain loops.
 */
function referenceFbank(samples: Float32Array, window: FbankWindow): number[][] {
  const rate = 16000;
  const len = 400;
  const shift = 160;
  const nfft = 512;
  const bins = 80;
  const mel = (f: number) => 1127 * Math.log(1 + f / 700);
  const out: number[][] = [];
  for (let start = 0; start + len <= samples.length; start += shift) {
    let x: number[] = [];
    for (let i = 0; i < len; i++) x.push(samples[start + i]! * 32768);
    const mean = x.reduce((a, b) => a + b, 0) / len;
    x = x.map((v) => v - mean);
    const pre = x.map((v, i) => (i === 0 ? v - 0.97 * v : v - 0.97 * x[i - 1]!));
    const win = pre.map((v, i) => {
      const c = Math.cos((2 * Math.PI * i) / (len - 1));
      if (window === 'povey') return v * Math.pow(0.5 - 0.5 * c, 0.85);
      if (window === 'hamming') return v * (0.54 - 0.46 * c);
      if (window === 'hanning') return v * (0.5 - 0.5 * c);
      return v;
    });
    const power: number[] = [];
    for (let k = 0; k < nfft / 2; k++) {
      let re = 0;
      let im = 0;
      for (let t = 0; t < len; t++) {
        re += win[t]! * Math.cos((2 * Math.PI * k * t) / nfft);
        im -= win[t]! * Math.sin((2 * Math.PI * k * t) / nfft);
      }
      power.push(re * re + im * im);
    }
    const lo = mel(20);
    const hi = mel(rate / 2);
    const delta = (hi - lo) / (bins + 1);
    const row: number[] = [];
    for (let b = 0; b < bins; b++) {
      const l = lo + b * delta;
      const c = lo + (b + 1) * delta;
      const r = lo + (b + 2) * delta;
      let e = 0;
      for (let k = 0; k < nfft / 2; k++) {
        const m = mel((k * rate) / nfft);
        if (m > l && m < r) e += power[k]! * (m <= c ? (m - l) / (c - l) : (r - m) / (r - c));
      }
      row.push(Math.log(Math.max(e, 1.1920928955078125e-7)));
    }
    out.push(row);
  }
  return out;
}

describe('computeFbank', () => {
  it('counts frames as Kaldi does with snip_edges', () => {
    for (const n of [0, 1, 399, 400, 401, 559, 560, 561, 16000, 16001, 24_321]) {
      const expected = n < 400 ? 0 : 1 + Math.floor((n - 400) / 160);
      expect(numFrames(n, 400, 160)).toBe(expected);
      const f = computeFbank(new Float32Array(n));
      expect(f.frames).toBe(expected);
      expect(f.dims).toBe(80);
      expect(f.data.length).toBe(expected * 80);
    }
  });

  it('puts a sine in the mel bin whose center is nearest its frequency', () => {
    const centers = new FbankComputer().centerFrequencies;
    for (const freq of [440, 1000, 1800, 3000, 4321, 6000, 7500]) {
      const f = computeFbank(sine(freq, 0.5));
      const avg = new Float64Array(f.dims);
      for (let t = 0; t < f.frames; t++) {
        for (let d = 0; d < f.dims; d++) avg[d] = avg[d]! + f.data[t * f.dims + d]!;
      }
      let peak = 0;
      for (let d = 1; d < f.dims; d++) if (avg[d]! > avg[peak]!) peak = d;
      let nearest = 0;
      for (let d = 1; d < centers.length; d++) {
        if (Math.abs(centers[d]! - freq) < Math.abs(centers[nearest]! - freq)) nearest = d;
      }
      expect(peak, `${freq} Hz`).toBe(nearest);
    }
  });

  it('puts silence and pure DC at the log floor', () => {
    const floor = Math.fround(LOG_FLOOR);
    const silent = computeFbank(new Float32Array(1600));
    expect(silent.frames).toBe(8);
    expect(silent.data.every((v) => v === floor)).toBe(true);
    // DC is removed per frame before anything else, so nothing is left.
    const dc = computeFbank(new Float32Array(1600).fill(0.25));
    expect(dc.data.every((v) => v === floor)).toBe(true);
  });

  it.each(['hamming', 'povey', 'hanning', 'rectangular'] as const)(
    'matches a slow reference implementation (%s window) to 1e-3',
    (window) => {
      const rnd = random(7);
      const samples = new Float32Array(400 + 160 * 30 + 77);
      for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * rnd();
      // A quiet stretch exercises small energies too.
      for (let i = 2000; i < 2600; i++) samples[i] = samples[i]! * 1e-4;
      const f = computeFbank(samples, { window });
      const ref = referenceFbank(samples, window);
      expect(f.frames).toBe(ref.length);
      let maxErr = 0;
      for (let t = 0; t < f.frames; t++) {
        for (let d = 0; d < 80; d++) {
          maxErr = Math.max(maxErr, Math.abs(f.data[t * 80 + d]! - ref[t]![d]!));
        }
      }
      expect(maxErr).toBeLessThan(1e-3);
    },
  );

  it('scaleToInt16 is the same as feeding int16 magnitudes', () => {
    const rnd = random(3);
    const x = new Float32Array(4000).map(() => 0.5 * rnd());
    const scaled = computeFbank(x);
    const raw = computeFbank(
      x.map((v) => v * 32768),
      { scaleToInt16: false },
    );
    for (let i = 0; i < scaled.data.length; i++) {
      expect(Math.abs(scaled.data[i]! - raw.data[i]!)).toBeLessThan(1e-4);
    }
    // Without scaling, [-1, 1] input sits 2·ln(32768) lower (away from the floor).
    const unscaled = computeFbank(x, { scaleToInt16: false });
    expect(scaled.data[5]! - unscaled.data[5]!).toBeCloseTo(2 * Math.log(32768), 3);
  });

  it('writes into a caller buffer and rejects one that is too small', () => {
    const computer = new FbankComputer();
    const x = sine(1000, 0.1);
    const frames = computer.framesFor(x.length);
    const buf = new Float32Array(frames * 80 + 10);
    const f = computer.compute(x, buf);
    expect(f.data.buffer).toBe(buf.buffer);
    expect([...f.data]).toEqual([...computeFbank(x).data]);
    expect(() => computer.compute(x, new Float32Array(frames * 80 - 1))).toThrow(RangeError);
  });

  it('rejects invalid options', () => {
    expect(() => new FbankComputer({ numMelBins: 0 })).toThrow(RangeError);
    expect(() => new FbankComputer({ highFreq: 9000 })).toThrow(RangeError);
    expect(() => new FbankComputer({ sampleRate: 0 })).toThrow(RangeError);
  });

  it('computes 10 s of audio well under 100 ms', () => {
    const rnd = random(11);
    const x = new Float32Array(160_000).map(() => 0.2 * rnd());
    computeFbank(x); // warm up the JIT and the cached tables
    const runs = 5;
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) applyCmn(computeFbank(x));
    const ms = (performance.now() - t0) / runs;
    console.log(`fbank+cmn: 10 s of 16 kHz audio in ${ms.toFixed(1)} ms (998 frames x 80)`);
    expect(ms).toBeLessThan(100);
  });
});

describe('applyCmn', () => {
  it('leaves every dimension with zero mean over time', () => {
    const rnd = random(5);
    const x = new Float32Array(16000).map((_, i) => 0.3 * rnd() + 0.2 * Math.sin(i / 10));
    const f = applyCmn(computeFbank(x));
    for (let d = 0; d < f.dims; d++) {
      let sum = 0;
      for (let t = 0; t < f.frames; t++) sum += f.data[t * f.dims + d]!;
      expect(Math.abs(sum / f.frames)).toBeLessThan(1e-5);
    }
  });

  it('is a no-op on zero frames and in place otherwise', () => {
    const empty = { frames: 0, dims: 80, data: new Float32Array(0) };
    expect(applyCmn(empty)).toBe(empty);
    const f = { frames: 2, dims: 2, data: Float32Array.from([1, 10, 3, 20]) };
    expect(applyCmn(f).data).toBe(f.data);
    expect([...f.data]).toEqual([-1, -5, 1, 5]);
  });

  it('defaults are WeSpeaker’s front end', () => {
    expect(WESPEAKER_FBANK_OPTIONS).toMatchObject({
      sampleRate: 16000,
      numMelBins: 80,
      frameLengthMs: 25,
      frameShiftMs: 10,
      preemphasis: 0.97,
      window: 'hamming',
      lowFreq: 20,
      highFreq: 0,
      scaleToInt16: true,
    });
  });
});
