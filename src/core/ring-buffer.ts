/**
 * A preallocated ring of PCM bytes between the capture callback and the WAV
 * writer. It never grows: capacity is fixed at construction, stated in seconds
 * by `forDuration`.
 *
 * Policy when full: the incoming frames that do not fit are dropped and counted
 * as overruns. Older audio is never overwritten, because it may already be
 * handed to an in-flight write (`peekContiguous` is zero-copy), and dropping
 * the newest keeps what is on disk contiguous up to the drop.
 */
export class PcmRingBuffer {
  private readonly storage: Buffer;
  private readPos = 0;
  private used = 0;
  private highWater = 0;
  private overrun = 0;
  private totalWritten = 0;

  constructor(
    readonly capacityBytes: number,
    readonly bytesPerFrame: number,
  ) {
    if (!Number.isInteger(bytesPerFrame) || bytesPerFrame <= 0) {
      throw new RangeError(`bytesPerFrame must be a positive integer, got ${bytesPerFrame}`);
    }
    if (capacityBytes <= 0 || capacityBytes % bytesPerFrame !== 0) {
      throw new RangeError('capacityBytes must be a positive multiple of bytesPerFrame');
    }
    // allocUnsafeSlow: a dedicated slab, not carved from Buffer's shared pool.
    this.storage = Buffer.allocUnsafeSlow(capacityBytes);
  }

  /** A ring holding `seconds` of audio at `sampleRate` with `bytesPerFrame`. */
  static forDuration(seconds: number, sampleRate: number, bytesPerFrame: number): PcmRingBuffer {
    const frames = Math.ceil(seconds * sampleRate);
    return new PcmRingBuffer(frames * bytesPerFrame, bytesPerFrame);
  }

  /** Capacity in seconds of audio at `sampleRate`. */
  capacitySeconds(sampleRate: number): number {
    return this.capacityBytes / this.bytesPerFrame / sampleRate;
  }

  /** Bytes waiting to be read. */
  get availableBytes(): number {
    return this.used;
  }

  get freeBytes(): number {
    return this.capacityBytes - this.used;
  }

  /** Most bytes ever held at once. */
  get highWaterBytes(): number {
    return this.highWater;
  }

  /** Frames dropped because the ring was full. */
  get overrunFrames(): number {
    return this.overrun;
  }

  /** Frames accepted since construction. */
  get framesWritten(): number {
    return this.totalWritten / this.bytesPerFrame;
  }

  /**
   * Copies whole frames from `src` into the ring; returns the frames accepted.
   * Frames that do not fit are dropped and counted (see the class comment).
   */
  write(src: Uint8Array): number {
    const wholeBytes = src.byteLength - (src.byteLength % this.bytesPerFrame);
    const accept = Math.min(wholeBytes, this.freeBytes - (this.freeBytes % this.bytesPerFrame));
    if (accept < wholeBytes) this.overrun += (wholeBytes - accept) / this.bytesPerFrame;
    if (accept === 0) return 0;
    const writePos = (this.readPos + this.used) % this.capacityBytes;
    const first = Math.min(accept, this.capacityBytes - writePos);
    this.storage.set(src.subarray(0, first), writePos);
    if (first < accept) this.storage.set(src.subarray(first, accept), 0);
    this.used += accept;
    this.totalWritten += accept;
    if (this.used > this.highWater) this.highWater = this.used;
    return accept / this.bytesPerFrame;
  }

  /**
   * A zero-copy view of the oldest contiguous bytes, at most `maxBytes` (whole
   * frames). The view stays valid until `consume` releases it: writes never
   * touch unconsumed bytes.
   */
  peekContiguous(maxBytes = this.capacityBytes): Buffer {
    const contiguous = Math.min(this.used, this.capacityBytes - this.readPos);
    let n = Math.min(contiguous, maxBytes);
    n -= n % this.bytesPerFrame;
    return this.storage.subarray(this.readPos, this.readPos + n);
  }

  /** Releases `bytes` read through `peekContiguous`. */
  consume(bytes: number): void {
    if (bytes < 0 || bytes > this.used || bytes % this.bytesPerFrame !== 0) {
      throw new RangeError(`cannot consume ${bytes} of ${this.used} bytes`);
    }
    this.readPos = (this.readPos + bytes) % this.capacityBytes;
    this.used -= bytes;
    if (this.used === 0) this.readPos = 0;
  }

  /** Copies up to `dst.byteLength` bytes (whole frames) out and consumes them. */
  read(dst: Uint8Array): number {
    let copied = 0;
    while (copied < dst.byteLength) {
      const view = this.peekContiguous(dst.byteLength - copied);
      if (view.byteLength === 0) break;
      dst.set(view, copied);
      copied += view.byteLength;
      this.consume(view.byteLength);
    }
    return copied;
  }
}
