/** PCM conversions on 16-bit little-endian interleaved audio. */

/**
 * Averages `channels` interleaved int16 channels into mono, writing into `dst`
 * (which must hold `src.length / channels` samples). Returns the frames written.
 * Averaging (not summing) cannot clip.
 */
export function downmixInt16ToMono(src: Int16Array, channels: number, dst: Int16Array): number {
  if (channels === 1) {
    dst.set(src);
    return src.length;
  }
  const frames = Math.floor(src.length / channels);
  if (dst.length < frames) throw new RangeError('downmix destination too small');
  for (let f = 0, i = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += src[i++]!;
    dst[f] = Math.round(sum / channels);
  }
  return frames;
}

/** Int16 samples to floats in [-1, 1). */
export function int16ToFloat32(
  src: Int16Array,
  dst: Float32Array = new Float32Array(src.length),
): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = src[i]! / 32768;
  return dst;
}

/** Floats to int16 samples, rounded, clamped to [-32768, 32767]. */
export function float32ToInt16(
  src: Float32Array,
  dst: Int16Array = new Int16Array(src.length),
): Int16Array {
  for (let i = 0; i < src.length; i++) {
    const v = Math.round(src[i]! * 32768);
    dst[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return dst;
}

/** The samples of `parts`, one after another, in one new array. */
export function concatFloat32(parts: readonly Float32Array[]): Float32Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A view of a byte buffer as int16 samples (copies only when misaligned). */
export function asInt16(bytes: Uint8Array): Int16Array {
  if (bytes.byteOffset % 2 === 0) {
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  }
  const copy = new Uint8Array(bytes.byteLength & ~1);
  copy.set(bytes.subarray(0, copy.byteLength));
  return new Int16Array(copy.buffer);
}

export interface Levels {
  /** Peak absolute sample, 0..1. */
  peak: number;
  /** Root mean square, 0..1. */
  rms: number;
}

/** Peak and RMS of int16 samples, normalised to full scale. */
export function measureLevels(samples: Int16Array): Levels {
  // The highest and lowest sample instead of |s| per sample: no branch on the
  // sign, which speech flips at random, so this loop (run on every captured
  // chunk) takes a third of the time.
  let max = 0;
  let min = 0;
  let sumSq = 0;
  const n = samples.length;
  for (let i = 0; i < n; i++) {
    const s = samples[i]!;
    max = Math.max(max, s);
    min = Math.min(min, s);
    sumSq += s * s;
  }
  return { peak: Math.max(max, -min) / 32768, rms: Math.sqrt(sumSq / (n || 1)) / 32768 };
}

/** Full-scale fraction to dBFS (floor at -120). */
export function toDbfs(x: number): number {
  return x <= 1e-6 ? -120 : 20 * Math.log10(x);
}

/**
 * A peak meter read at its own rate (a display, progress lines) while levels
 * arrive at the capture's rate: each read gives the highest peak since the
 * last read, or holds the last reading when no audio arrived in between (a
 * meter read faster than audio arrives would otherwise drop to silence).
 */
export class PeakMeter {
  private pending: number | null = null;
  private shown = -120;

  add(levels: Levels): void {
    const db = toDbfs(levels.peak);
    this.pending = this.pending === null ? db : Math.max(this.pending, db);
  }

  /** dBFS, -120 for silence or before any audio. */
  read(): number {
    if (this.pending !== null) {
      this.shown = this.pending;
      this.pending = null;
    }
    return this.shown;
  }
}
