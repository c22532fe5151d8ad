/**
 * A contiguous span of 16 kHz float samples, [startSample, endSample), kept in
 * a preallocated ring. The model host holds here the audio it has not yet
 * committed (the utterance in progress and those waiting for Whisper).
 *
 * Capacity is fixed at construction; `append` throws when the samples do not
 * fit, so the owner must check `freeSamples` first and apply backpressure
 * (the host stops acknowledging chunks) instead of growing.
 */
export class AudioWindow {
  private readonly ring: Float32Array;
  private start = 0;
  private length = 0;
  /** Ring index of `start`. */
  private head = 0;

  constructor(readonly capacitySamples: number) {
    if (!Number.isInteger(capacitySamples) || capacitySamples <= 0) {
      throw new RangeError('capacitySamples must be a positive integer');
    }
    this.ring = new Float32Array(capacitySamples);
  }

  get startSample(): number {
    return this.start;
  }

  get endSample(): number {
    return this.start + this.length;
  }

  get freeSamples(): number {
    return this.capacitySamples - this.length;
  }

  /** Empties the window and makes `sample` its start. */
  resetAt(sample: number): void {
    this.start = sample;
    this.length = 0;
    this.head = 0;
  }

  /** Appends samples that start exactly at `endSample`. */
  append(samples: Float32Array): void {
    if (samples.length > this.freeSamples) {
      throw new RangeError(`audio window full: ${samples.length} > ${this.freeSamples} free`);
    }
    let at = (this.head + this.length) % this.capacitySamples;
    let copied = 0;
    while (copied < samples.length) {
      const n = Math.min(samples.length - copied, this.capacitySamples - at);
      this.ring.set(samples.subarray(copied, copied + n), at);
      copied += n;
      at = (at + n) % this.capacitySamples;
    }
    this.length += samples.length;
  }

  /** A copy of [from, to), clamped to what the window holds. */
  slice(from: number, to: number): Float32Array {
    const a = Math.max(from, this.start);
    const b = Math.min(to, this.endSample);
    const out = new Float32Array(Math.max(0, b - a));
    let at = (this.head + (a - this.start)) % this.capacitySamples;
    let copied = 0;
    while (copied < out.length) {
      const n = Math.min(out.length - copied, this.capacitySamples - at);
      out.set(this.ring.subarray(at, at + n), copied);
      copied += n;
      at = (at + n) % this.capacitySamples;
    }
    return out;
  }

  /** Forgets every sample before `sample`. */
  dropBefore(sample: number): void {
    const n = Math.min(Math.max(0, sample - this.start), this.length);
    this.head = (this.head + n) % this.capacitySamples;
    this.start += n;
    this.length -= n;
  }
}
