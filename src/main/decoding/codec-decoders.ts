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
 *
 * Each takes the file's bytes in chunks of any size (a frame cut by a chunk
 * boundary waits inside the decoder) and gives planar float32 channels.
 * Packages are imported on first use, so a person who never drops a file
 * never loads them.
 */
import type { Sniffed } from '../../core/media-sniff';

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

/** A decoder for what was sniffed, or null when Steno has none for it. */
export async function codecDecoderFor(sniffed: Sniffed): Promise<CodecDecoder | null> {
  const key = `${sniffed.container}/${sniffed.codec ?? ''}`;
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
