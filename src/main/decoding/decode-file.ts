/**
 * A dropped file to the models' 16 kHz mono, as a stream: the file is read in
 * chunks of CHUNK_BYTES, each decoded, downmixed and resampled (the project's
 * band-limited resampler) and handed to the sink before the next is read, so
 * memory is a few chunks whatever the file's length, and a slow sink slows
 * the reading.
 *
 *   file -> sniff (first bytes) -> WAV: sample bytes -> InterleavedToMono
 *                                  other: codec decoder (WASM) -> downmixPlanar
 *        -> StreamingResampler (16 kHz) -> sink
 */
import fs from 'node:fs';
import { sniffMedia, SNIFF_BYTES, type Sniffed } from '../../core/media-sniff';
import { InterleavedToMono, downmixPlanar } from '../../core/pcm-decode';
import { MODEL_SAMPLE_RATE, StreamingResampler } from '../../core/resample';
import { parseWavLayout, WavHeaderError } from '../../core/wav-format';
import {
  codecDecoderFor,
  UnsupportedCodecError,
  type CodecDecoder,
  type DecodedChunk,
} from './codec-decoders';
import { MatroskaFormatError } from '../../core/matroska-demux';
import { mediaError } from './media-errors';
import { statMediaFile } from './probe';

/** Bytes read from the file per step: 256 KiB (1.4 s of 48 kHz stereo float, 16 s of MP3). */
export const CHUNK_BYTES = 256 * 1024;

export interface DecodedStreamInfo {
  container: Sniffed['container'];
  codec: string;
  /** The source's rate and channels (the output is always 16 kHz mono). */
  sampleRate: number;
  channels: number;
}

export interface DecodeResult extends DecodedStreamInfo {
  /** 16 kHz samples handed to the sink. */
  samples: number;
  /** Frames the codec could not decode and skipped (damage inside the file). */
  damagedFrames: number;
}

/**
 * Less decoded audio than this (0.1 s) is no audio: what a decoder makes of a
 * frame header followed by garbage, not a file anyone recorded.
 */
const MIN_AUDIO_SAMPLES = MODEL_SAMPLE_RATE / 10;

export interface DecodeOptions {
  /** Stops the decoding between chunks; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Receives consecutive 16 kHz mono samples; decoding waits for its promise. */
export type SampleSink = (samples: Float32Array) => void | Promise<void>;

export async function decodeFileTo16k(
  file: string,
  sink: SampleSink,
  opts: DecodeOptions = {},
): Promise<DecodeResult> {
  const handle = await openForDecoding(file);
  try {
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, handle.size));
    const { bytesRead } = await handle.fd.read(head, 0, head.length, 0);
    const sniffed = sniffMedia(head.subarray(0, bytesRead));
    if (!sniffed) throw mediaError(file, 'unknown');
    if (sniffed.container === 'wav') {
      return await decodeWav(file, handle, head.subarray(0, bytesRead), sink, opts);
    }
    return await decodeCompressed(file, handle, sniffed, sink, opts);
  } finally {
    await handle.fd.close().catch(() => {});
  }
}

interface OpenFile {
  fd: fs.promises.FileHandle;
  size: number;
}

async function openForDecoding(file: string): Promise<OpenFile> {
  const stat = await statMediaFile(file);
  try {
    return { fd: await fs.promises.open(file, 'r'), size: stat.size };
  } catch (e) {
    throw mediaError(file, 'unreadable', e);
  }
}

async function decodeWav(
  file: string,
  handle: OpenFile,
  head: Uint8Array,
  sink: SampleSink,
  opts: DecodeOptions,
): Promise<DecodeResult> {
  let layout;
  try {
    layout = parseWavLayout(head);
  } catch (e) {
    if (e instanceof WavHeaderError) {
      throw mediaError(file, e.unsupported ? 'unsupported' : 'corrupt', e, e.why);
    }
    throw e;
  }
  const { format } = layout;
  const available = Math.max(0, handle.size - layout.dataOffset);
  // A header that claims more than the file holds (a cut-off copy) is read
  // up to the end; so is one that claims nothing while audio follows (a
  // writer killed before it went back to fix the sizes).
  const dataBytes = layout.dataBytes === 0 ? available : Math.min(layout.dataBytes, available);
  if (dataBytes < format.blockAlign) throw mediaError(file, 'no-audio');
  const frames = new InterleavedToMono(format);
  const out = new ModelRateOutput(file, format.sampleRate, sink);
  // Whole frames only; at least one (a header claiming thousands of channels).
  const chunk = Buffer.alloc(
    Math.max(format.blockAlign, CHUNK_BYTES - (CHUNK_BYTES % format.blockAlign)),
  );
  for (let done = 0; done < dataBytes;) {
    opts.signal?.throwIfAborted();
    const want = Math.min(chunk.length, dataBytes - done);
    const { bytesRead } = await handle.fd.read(chunk, 0, want, layout.dataOffset + done);
    if (bytesRead === 0) throw mediaError(file, 'changed');
    done += bytesRead;
    await out.push(frames.push(chunk.subarray(0, bytesRead)));
  }
  await out.deliver(out.takeTail());
  return {
    container: 'wav',
    codec:
      format.encoding === 'float' ? `float${format.bitsPerSample}` : `pcm${format.bitsPerSample}`,
    sampleRate: format.sampleRate,
    channels: format.channels,
    samples: out.samples,
    damagedFrames: 0,
  };
}

async function decodeCompressed(
  file: string,
  handle: OpenFile,
  sniffed: Sniffed,
  sink: SampleSink,
  opts: DecodeOptions,
): Promise<DecodeResult> {
  const decoder: CodecDecoder | null = await codecDecoderFor(sniffed);
  if (!decoder) throw mediaError(file, 'unsupported', undefined, formatName(sniffed));
  try {
    // Made at the first decoded audio, which tells the rate.
    let out: ModelRateOutput | null = null;
    let rate = 0;
    let channels = 0;
    let damagedFrames = 0;
    const deliver = async (decoded: DecodedChunk) => {
      damagedFrames += decoded.errors;
      if (decoded.samplesDecoded === 0) return;
      if (!out) {
        rate = decoded.sampleRate;
        channels = sniffed.channels ?? decoded.channelData.length;
        out = new ModelRateOutput(file, rate, sink);
      } else if (decoded.sampleRate !== rate) {
        throw mediaError(
          file,
          'corrupt',
          undefined,
          `the sample rate changes from ${rate} to ${decoded.sampleRate} Hz mid-stream`,
        );
      }
      await out.push(downmixPlanar(decoded.channelData, decoded.samplesDecoded));
    };
    const chunk = Buffer.alloc(CHUNK_BYTES);
    for (let at = sniffed.tagBytes; at < handle.size;) {
      opts.signal?.throwIfAborted();
      const { bytesRead } = await handle.fd.read(
        chunk,
        0,
        Math.min(chunk.length, handle.size - at),
        at,
      );
      if (bytesRead === 0) throw mediaError(file, 'changed');
      at += bytesRead;
      // A copy (a Buffer's slice would be a view of the reused chunk): the Ogg
      // and FLAC parsers keep the bytes of a frame cut by the chunk's end.
      const bytes = new Uint8Array(chunk.subarray(0, bytesRead));
      await deliver(await decodeOrExplain(file, () => decoder.decode(bytes)));
    }
    await deliver(await decodeOrExplain(file, () => decoder.flush()));
    // (A cast: TypeScript does not see the assignment inside `deliver`.)
    const output = out as ModelRateOutput | null;
    const tail = output?.takeTail() ?? new Float32Array(0);
    const samples = output?.samples ?? 0;
    if (samples < MIN_AUDIO_SAMPLES) {
      throw mediaError(
        file,
        damagedFrames > 0 ? 'corrupt' : 'no-audio',
        undefined,
        damagedFrames > 0
          ? `${damagedFrames} ${decoder.codec} frames could not be decoded`
          : undefined,
      );
    }
    await output?.deliver(tail);
    return {
      container: sniffed.container,
      codec: decoder.codec,
      sampleRate: rate,
      channels,
      samples,
      damagedFrames,
    };
  } finally {
    decoder.dispose();
  }
}

function formatName(s: Sniffed): string {
  return s.codec ? `${s.codec} in ${s.container}` : s.container;
}

/** A container or codec problem found while decoding, as the person's error. */
async function decodeOrExplain(
  file: string,
  step: () => Promise<DecodedChunk>,
): Promise<DecodedChunk> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof UnsupportedCodecError) throw mediaError(file, 'unsupported', e, e.message);
    if (e instanceof MatroskaFormatError) throw mediaError(file, 'corrupt', e, e.message);
    throw e;
  }
}

/**
 * Mono audio at the source's rate to the sink at 16 kHz, counting what it
 * hands on. A rate the resampler cannot take (above 1 MHz, say) is the
 * file's problem.
 */
class ModelRateOutput {
  private readonly resampler: StreamingResampler;
  /** 16 kHz samples produced, the tail taken included. */
  samples = 0;

  constructor(
    file: string,
    rate: number,
    private readonly sink: SampleSink,
  ) {
    try {
      this.resampler = new StreamingResampler({ inputRate: rate, outputRate: MODEL_SAMPLE_RATE });
    } catch (e) {
      throw mediaError(file, 'unsupported', e, `its sample rate is ${rate} Hz`);
    }
  }

  async push(mono: Float32Array): Promise<void> {
    const out = this.resampler.push(mono);
    this.samples += out.length;
    await this.deliver(out);
  }

  /** The resampler's last samples at the end of the stream, counted; deliver them after any check. */
  takeTail(): Float32Array {
    const tail = this.resampler.flush();
    this.samples += tail.length;
    return tail;
  }

  async deliver(samples: Float32Array): Promise<void> {
    if (samples.length === 0) return;
    await this.sink(samples);
  }
}
