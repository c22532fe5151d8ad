import { describe, expect, it } from 'vitest';
import { downmixPlanar, InterleavedToMono } from './pcm-decode';
import type { WavSampleFormat } from './wav-format';

/** Encodes interleaved values in [-1, 1) the way each WAV format stores them. */
function encode(format: WavSampleFormat, interleaved: readonly number[]): Uint8Array {
  const bytes = format.bitsPerSample / 8;
  const out = new DataView(new ArrayBuffer(interleaved.length * bytes));
  interleaved.forEach((x, i) => {
    const at = i * bytes;
    if (format.encoding === 'float') {
      if (bytes === 4) out.setFloat32(at, x, true);
      else out.setFloat64(at, x, true);
      return;
    }
    switch (format.bitsPerSample) {
      case 8:
        out.setUint8(at, Math.round(x * 128) + 128);
        break;
      case 16:
        out.setInt16(at, Math.round(x * 32768), true);
        break;
      case 24: {
        const v = Math.round(x * 8388608);
        out.setUint16(at, v & 0xffff, true);
        out.setInt8(at + 2, v >> 16);
        break;
      }
      case 32:
        out.setInt32(at, Math.round(x * 2147483648), true);
        break;
    }
  });
  return new Uint8Array(out.buffer);
}

const formats: [string, Omit<WavSampleFormat, 'channels' | 'sampleRate' | 'blockAlign'>, number][] =
  [
    ['8-bit unsigned', { encoding: 'pcm', bitsPerSample: 8 }, 1 / 128],
    ['16-bit', { encoding: 'pcm', bitsPerSample: 16 }, 1 / 32768],
    ['24-bit', { encoding: 'pcm', bitsPerSample: 24 }, 1 / 8388608],
    ['32-bit', { encoding: 'pcm', bitsPerSample: 32 }, 1e-7],
    ['32-bit float', { encoding: 'float', bitsPerSample: 32 }, 1e-7],
    ['64-bit float', { encoding: 'float', bitsPerSample: 64 }, 1e-7],
  ];

describe('InterleavedToMono', () => {
  it.each(formats)(
    '%s, 3 channels, cut at every odd byte: the mean of the channels',
    (_, sample, tolerance) => {
      const channels = 3;
      const format: WavSampleFormat = {
        ...sample,
        channels,
        sampleRate: 44_100,
        blockAlign: (channels * sample.bitsPerSample) / 8,
      };
      const frames = 257;
      // Values on each format's grid, full scale included (-1 and just under 1).
      const step = 2 / 2 ** Math.min(sample.bitsPerSample, 16);
      const interleaved = Array.from({ length: frames * channels }, (_, i) => {
        const x = Math.sin(i * 0.37) * 0.999;
        return i === 0 ? -1 : Math.min(1 - step, Math.round(x / step) * step);
      });
      const expected = Array.from({ length: frames }, (_, f) => {
        const c = interleaved.slice(f * channels, f * channels + channels);
        return c.reduce((a, b) => a + b, 0) / channels;
      });
      const bytes = encode(format, interleaved);
      const decoder = new InterleavedToMono(format);
      const got: number[] = [];
      // Chunks of 1, 2, 3, ... 13 bytes, cycling: frames and samples cut everywhere.
      for (let at = 0, size = 1; at < bytes.length; at += size, size = (size % 13) + 1) {
        got.push(...decoder.push(bytes.subarray(at, Math.min(bytes.length, at + size))));
      }
      expect(decoder.pendingBytes).toBe(0);
      expect(got).toHaveLength(frames);
      got.forEach((x, i) => expect(Math.abs(x - expected[i]!)).toBeLessThanOrEqual(tolerance));
      expect(got[0]).toBeCloseTo((-1 + interleaved[1]! + interleaved[2]!) / 3, 6);
    },
  );

  it('keeps a cut frame until its last byte comes', () => {
    const format: WavSampleFormat = {
      encoding: 'pcm',
      bitsPerSample: 16,
      channels: 2,
      sampleRate: 8000,
      blockAlign: 4,
    };
    const decoder = new InterleavedToMono(format);
    const bytes = encode(format, [0.5, 0.25, -0.5, -0.25]);
    expect(decoder.push(bytes.subarray(0, 3))).toHaveLength(0);
    expect(decoder.pendingBytes).toBe(3);
    expect(Array.from(decoder.push(bytes.subarray(3)))).toEqual([0.375, -0.375]);
    expect(decoder.pendingBytes).toBe(0);
  });
});

describe('downmixPlanar', () => {
  it('averages the channels over the given length', () => {
    const left = Float32Array.from([1, 0.5, 0.25, 9]);
    const right = Float32Array.from([0, -0.5, 0.25, 9]);
    expect(Array.from(downmixPlanar([left, right], 3))).toEqual([0.5, 0, 0.25]);
    expect(Array.from(downmixPlanar([left], 2))).toEqual([1, 0.5]);
    expect(Array.from(downmixPlanar([], 2))).toEqual([0, 0]);
  });
});
