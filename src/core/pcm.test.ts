import { describe, expect, it } from 'vitest';
import {
  PeakMeter,
  asInt16,
  concatFloat32,
  downmixInt16ToMono,
  float32ToInt16,
  int16ToFloat32,
  measureLevels,
  toDbfs,
} from './pcm';

describe('pcm', () => {
  it('downmixes interleaved stereo by averaging', () => {
    const src = Int16Array.from([100, 300, -32768, -32768, 32767, -32767]);
    const dst = new Int16Array(3);
    expect(downmixInt16ToMono(src, 2, dst)).toBe(3);
    expect([...dst]).toEqual([200, -32768, 0]);
  });

  it('passes mono through', () => {
    const src = Int16Array.from([1, 2, 3]);
    const dst = new Int16Array(3);
    downmixInt16ToMono(src, 1, dst);
    expect([...dst]).toEqual([1, 2, 3]);
  });

  it('converts to float in [-1, 1)', () => {
    expect([...int16ToFloat32(Int16Array.from([-32768, 0, 16384]))]).toEqual([-1, 0, 0.5]);
  });

  it('converts floats back to int16, rounded and clamped, and round-trips int16 exactly', () => {
    expect([...float32ToInt16(Float32Array.from([-1, 0, 0.5, 0.99999, 1, -1.5, 2e-5]))]).toEqual([
      -32768, 0, 16384, 32767, 32767, -32768, 1,
    ]);
    const all = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
    expect(float32ToInt16(int16ToFloat32(all))).toEqual(all);
  });

  it('joins float chunks in order, empty ones included', () => {
    const joined = concatFloat32([
      Float32Array.from([1, 2]),
      new Float32Array(0),
      Float32Array.from([3]),
    ]);
    expect([...joined]).toEqual([1, 2, 3]);
    expect(concatFloat32([])).toHaveLength(0);
  });

  it('views odd-offset bytes safely', () => {
    const buf = new Uint8Array([0, 1, 0, 2, 0]);
    expect([...asInt16(buf.subarray(1, 5))]).toEqual([1, 2]);
  });

  it('measures levels', () => {
    const l = measureLevels(Int16Array.from([16384, -16384]));
    expect(l.peak).toBeCloseTo(0.5);
    expect(l.rms).toBeCloseTo(0.5);
    expect(toDbfs(0.5)).toBeCloseTo(-6.02, 1);
    expect(toDbfs(0)).toBe(-120);
  });
});

describe('PeakMeter', () => {
  it('reads the highest peak since the last read, and holds it while no audio arrives', () => {
    const meter = new PeakMeter();
    expect(meter.read()).toBe(-120);
    meter.add({ peak: 0.25, rms: 0.1 });
    meter.add({ peak: 0.5, rms: 0.1 });
    expect(meter.read()).toBeCloseTo(-6.02, 1);
    // Read twice per chunk (100 ms reads, 200 ms chunks): the second read holds.
    expect(meter.read()).toBeCloseTo(-6.02, 1);
    meter.add({ peak: 0, rms: 0 });
    expect(meter.read()).toBe(-120);
  });
});
