/**
 * Interleaved WAV sample bytes of any format WAV files use (8-bit unsigned,
 * 16/24/32-bit signed integer, 32/64-bit float, any channel count) to mono
 * float32, chunk by chunk, and planar decoder output to mono: the first step
 * from a dropped file to the models' 16 kHz mono.
 *
 * Downmix: the plain mean of the channels. A meeting recorded in stereo has
 * the same speech on both sides or different people on each; the mean keeps
 * everyone, at most 6 dB quieter, which the VAD and Whisper do not mind.
 */
import type { WavSampleFormat } from './wav-format';

/**
 * Buffers: one frame's bytes carried across chunks; the output is sized by
 * the input chunk (a caller reads a file in chunks of a fixed size).
 */
export class InterleavedToMono {
  private readonly bytesPerSample: number;
  private readonly frameBytes: number;
  /** A frame cut by a chunk boundary: at most frameBytes - 1 bytes wait here. */
  private readonly carry: Uint8Array;
  private carried = 0;

  constructor(private readonly format: WavSampleFormat) {
    this.bytesPerSample = format.bitsPerSample / 8;
    this.frameBytes = format.channels * this.bytesPerSample;
    this.carry = new Uint8Array(this.frameBytes);
  }

  /** Bytes of an unfinished frame kept from the last chunk. */
  get pendingBytes(): number {
    return this.carried;
  }

  /** The mono samples of every frame completed by `bytes` (a cut frame waits for the next chunk). */
  push(bytes: Uint8Array): Float32Array {
    let input = bytes;
    if (this.carried > 0) {
      // Rare (chunks are usually a whole number of frames): join the cut frame once.
      const joined = new Uint8Array(this.carried + bytes.length);
      joined.set(this.carry.subarray(0, this.carried));
      joined.set(bytes, this.carried);
      input = joined;
      this.carried = 0;
    }
    const frames = Math.floor(input.length / this.frameBytes);
    const rest = input.length - frames * this.frameBytes;
    if (rest > 0) {
      this.carry.set(input.subarray(input.length - rest));
      this.carried = rest;
    }
    const out = new Float32Array(frames);
    const view = new DataView(input.buffer, input.byteOffset, frames * this.frameBytes);
    const read = sampleReader(this.format);
    const channels = this.format.channels;
    const scale = 1 / channels;
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      const at = f * this.frameBytes;
      for (let c = 0; c < channels; c++) sum += read(view, at + c * this.bytesPerSample);
      out[f] = sum * scale;
    }
    return out;
  }
}

type SampleReader = (view: DataView, at: number) => number;

/** Reads one sample as a float in [-1, 1) (floats as they are). */
function sampleReader(format: WavSampleFormat): SampleReader {
  if (format.encoding === 'float') {
    return format.bitsPerSample === 32
      ? (v, at) => v.getFloat32(at, true)
      : (v, at) => v.getFloat64(at, true);
  }
  switch (format.bitsPerSample) {
    case 8:
      return (v, at) => (v.getUint8(at) - 128) / 128;
    case 16:
      return (v, at) => v.getInt16(at, true) / 32768;
    case 24:
      return (v, at) => {
        const lo = v.getUint16(at, true);
        const hi = v.getInt8(at + 2);
        return (hi * 65536 + lo) / 8388608;
      };
    case 32:
      return (v, at) => v.getInt32(at, true) / 2147483648;
    default:
      throw new RangeError(`no reader for ${format.bitsPerSample}-bit PCM`);
  }
}

/** The mean of planar channels (a decoder's output) over their first `length` samples. */
export function downmixPlanar(channels: readonly Float32Array[], length: number): Float32Array {
  const out = new Float32Array(length);
  if (channels.length === 0) return out;
  for (const ch of channels) {
    for (let i = 0; i < length; i++) out[i] = out[i]! + ch[i]!;
  }
  if (channels.length > 1) {
    const scale = 1 / channels.length;
    for (let i = 0; i < length; i++) out[i] = out[i]! * scale;
  }
  return out;
}
