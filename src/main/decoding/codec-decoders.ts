/**
 * The compressed formats, each behind one small adapter over a WebAssembly
 * decoder from the wasm-audio-decoders family (MIT; the WASM ships inside the
 * npm package, nothing is downloaded or compiled at install, and the same code
 * runs in Node and in Electron's main process):
 *
 *   MPEG audio (MP3, MP2)  mpg123-decoder                 mpg123 (LGPL-2.1, as WASM)
 *   FLAC                   @wasm-audio-decoders/flac      libFLAC (BSD)
 *   Ogg Vorbis             @wasm-audio-decoders/ogg-vorbis libvorbis (BSD)
 *   Ogg Opus               ogg-opus-decoder               libopus (BSD)
 *   Opus in WebM/Matroska  src/core/matroska-demux.ts + opus-decoder (libopus)
 *
 * Each takes the file's bytes in chunks of any size (a frame cut by a chunk
 * boundary waits inside the decoder) and gives planar float32 channels.
 * Packages are imported on first use, so a person who never drops a file
 * never loads them.
 */
import {
  MatroskaAudioDemuxer,
  MatroskaFormatError,
  type MatroskaAudioTrack,
} from '../../core/matroska-demux';
import type { Sniffed } from '../../core/media-sniff';
import { concatFloat32 } from '../../core/pcm';

export interface DecodedChunk {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  /** Frames the decoder could not decode in this chunk (damage it skipped). */
  errors: number;
}

export interface CodecDecoder {
  readonly codec: string;
  /** Decodes the next bytes; the decoder may keep them (give it bytes it can own). */
  decode(bytes: Uint8Array): Promise<DecodedChunk>;
  /** What the decoder still holds at the end of the stream. */
  flush(): Promise<DecodedChunk>;
  /** Frees the WASM memory; the decoder is unusable afterwards. */
  dispose(): void;
}

/** The shape every wasm-audio-decoders decoder shares. */
interface WasmDecoder {
  ready: Promise<void>;
  /** Synchronous in mpg123-decoder, a promise in the others. */
  decode(data: Uint8Array): WasmDecoded | Promise<WasmDecoded>;
  flush?: () => WasmDecoded | Promise<WasmDecoded>;
  free(): void;
}

interface WasmDecoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors?: unknown[];
}

const EMPTY: DecodedChunk = { channelData: [], samplesDecoded: 0, sampleRate: 0, errors: 0 };

/** Container/codec pairs Steno decodes (Matroska and WebM: Opus, found while demuxing). */
const DECODABLE = new Set([
  'mpeg/mp3',
  'mpeg/mp2',
  'mpeg/mp1',
  'mpeg/',
  'flac/flac',
  'ogg/vorbis',
  'ogg/opus',
  'webm/',
  'matroska/',
]);

/** Whether Steno has a decoder for what was sniffed (WAV is read without one). */
export function canDecode(sniffed: Sniffed): boolean {
  return (
    sniffed.container === 'wav' || DECODABLE.has(`${sniffed.container}/${sniffed.codec ?? ''}`)
  );
}

/** A decoder for what was sniffed, or null when Steno has none for it. */
export async function codecDecoderFor(sniffed: Sniffed): Promise<CodecDecoder | null> {
  const key = `${sniffed.container}/${sniffed.codec ?? ''}`;
  if (!DECODABLE.has(key)) return null;
  switch (key) {
    case 'mpeg/mp3':
    case 'mpeg/mp2':
    case 'mpeg/mp1':
    case 'mpeg/': {
      const { MPEGDecoder } = await import('mpg123-decoder');
      return adapt(sniffed.codec ?? 'mp3', new MPEGDecoder() as unknown as WasmDecoder);
    }
    case 'flac/flac': {
      const { FLACDecoder } = await import('@wasm-audio-decoders/flac');
      return adapt('flac', new FLACDecoder() as unknown as WasmDecoder);
    }
    case 'ogg/vorbis': {
      const { OggVorbisDecoder } = await import('@wasm-audio-decoders/ogg-vorbis');
      return adapt('vorbis', new OggVorbisDecoder() as unknown as WasmDecoder);
    }
    case 'ogg/opus': {
      const { OggOpusDecoder } = await import('ogg-opus-decoder');
      return adapt('opus', new OggOpusDecoder() as unknown as WasmDecoder);
    }
    case 'webm/':
    case 'matroska/':
      return new MatroskaOpusDecoder();
    default:
      return null;
  }
}

async function adapt(codec: string, wasm: WasmDecoder): Promise<CodecDecoder> {
  await wasm.ready;
  return {
    codec,
    decode: async (bytes) => toChunk(await wasm.decode(bytes)),
    // MPEGDecoder has no flush: it keeps no frame back.
    flush: async () => (wasm.flush ? toChunk(await wasm.flush()) : EMPTY),
    dispose: () => wasm.free(),
  };
}

function toChunk(r: WasmDecoded): DecodedChunk {
  return {
    channelData: r.channelData,
    samplesDecoded: r.samplesDecoded,
    sampleRate: r.sampleRate,
    errors: r.errors?.length ?? 0,
  };
}

/** A codec Steno has no decoder for, found inside a container it reads. */
export class UnsupportedCodecError extends Error {}

/** Matroska's name for Opus; the other audio codecs there are refused by name. */
const MATROSKA_OPUS = 'A_OPUS';
const OPUS_RATE = 48_000;

/**
 * Opus frames from the Matroska demuxer into libopus, set up from the
 * track's OpusHead (channels, pre-skip, channel mapping; RFC 7845 5.1); the
 * padding a block says to discard (the end of the last frame) is cut off.
 */
class MatroskaOpusDecoder implements CodecDecoder {
  codec = 'opus';
  private readonly demuxer = new MatroskaAudioDemuxer();
  private opus: WasmOpusDecoder | null = null;

  async decode(bytes: Uint8Array): Promise<DecodedChunk> {
    return this.decodeFrames(this.demuxer.push(bytes));
  }

  async flush(): Promise<DecodedChunk> {
    return this.decodeFrames(this.demuxer.end());
  }

  dispose(): void {
    this.opus?.free();
    this.opus = null;
  }

  private async decodeFrames(
    frames: readonly { data: Uint8Array; discardPaddingNs: number }[],
  ): Promise<DecodedChunk> {
    if (frames.length === 0) return EMPTY;
    const opus = await this.decoderFor(this.demuxer.track!);
    // Capacity: one chunk's frames (a 256 KiB read is at most a few seconds of Opus).
    const parts: Float32Array[][] = [];
    let total = 0;
    let errors = 0;
    for (const frame of frames) {
      const out = opus.decodeFrame(frame.data);
      errors += out.errors?.length ?? 0;
      const drop = Math.round((frame.discardPaddingNs * OPUS_RATE) / 1e9);
      const keep = Math.max(0, out.samplesDecoded - drop);
      if (keep === 0) continue;
      parts.push(out.channelData.map((c) => c.slice(0, keep)));
      total += keep;
    }
    const channels = parts[0]?.length ?? 0;
    const channelData = Array.from({ length: channels }, (_, c) =>
      concatFloat32(parts.map((p) => p[c]!)),
    );
    return { channelData, samplesDecoded: total, sampleRate: OPUS_RATE, errors };
  }

  private async decoderFor(track: MatroskaAudioTrack): Promise<WasmOpusDecoder> {
    if (this.opus) return this.opus;
    if (track.codecId !== MATROSKA_OPUS) {
      throw new UnsupportedCodecError(
        `its audio is ${track.codecId}; Steno reads Opus in WebM and Matroska`,
      );
    }
    const head = track.codecPrivate;
    if (!head || head.length < 19 || String.fromCharCode(...head.subarray(0, 8)) !== 'OpusHead') {
      throw new MatroskaFormatError('its Opus track has no OpusHead');
    }
    const channels = head[9]!;
    const preSkip = head[10]! | (head[11]! << 8);
    const family = head[18]!;
    let mapping: { streamCount: number; coupledStreamCount: number; channelMappingTable: number[] };
    if (family === 0) {
      if (channels > 2) throw new MatroskaFormatError(`mapping family 0 with ${channels} channels`);
      mapping = {
        streamCount: 1,
        coupledStreamCount: channels - 1,
        channelMappingTable: channels === 1 ? [0] : [0, 1],
      };
    } else {
      if (head.length < 21 + channels) throw new MatroskaFormatError('its OpusHead is cut short');
      mapping = {
        streamCount: head[19]!,
        coupledStreamCount: head[20]!,
        channelMappingTable: Array.from(head.subarray(21, 21 + channels)),
      };
    }
    const { OpusDecoder } = await import('opus-decoder');
    const opus = new OpusDecoder({ channels, preSkip, ...mapping }) as unknown as WasmOpusDecoder;
    await opus.ready;
    this.opus = opus;
    return opus;
  }
}

interface WasmOpusDecoder {
  ready: Promise<void>;
  decodeFrame(frame: Uint8Array): WasmDecoded;
  free(): void;
}
