/**
 * What a dropped file is, before anything is queued or decoded: container,
 * codec, length, channels and rate, from its first and (Ogg) last bytes.
 * A file that cannot be transcribed (missing, a folder, empty, not media,
 * a codec Steno has no decoder for) is refused here with the reason; damage
 * deeper inside shows only while decoding.
 */
import fs from 'node:fs';
import { sniffMedia, SNIFF_BYTES, type Container } from '../../core/media-sniff';
import {
  flacFacts,
  lastOggGranule,
  mpegFacts,
  oggFacts,
  oggSerial,
  type StreamFacts,
} from '../../core/media-duration';
import { parseWavLayout, WavHeaderError } from '../../core/wav-format';
import { canDecode } from './codec-decoders';
import { mediaError } from './media-errors';

export interface MediaProbe extends StreamFacts {
  file: string;
  bytes: number;
  mtimeMs: number;
  container: Container;
  /** Null when only decoding tells (Matroska, WebM). */
  codec: string | null;
}

/** The file's last bytes read for an Ogg stream's length (its last page is shorter than this). */
const OGG_TAIL_BYTES = 64 * 1024;

/** Checks that `file` can be opened as a media file; its size and modification time. */
export async function statMediaFile(file: string): Promise<fs.Stats> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw mediaError(file, missing ? 'missing' : 'unreadable', e);
  }
  if (stat.isDirectory()) throw mediaError(file, 'directory');
  if (stat.size === 0) throw mediaError(file, 'empty');
  return stat;
}

export async function probeMedia(file: string): Promise<MediaProbe> {
  const stat = await statMediaFile(file);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (e) {
    throw mediaError(file, 'unreadable', e);
  }
  try {
    const head = Buffer.alloc(Math.min(SNIFF_BYTES, stat.size));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    const sniffed = sniffMedia(bytes);
    if (!sniffed) throw mediaError(file, 'unknown');
    if (!canDecode(sniffed)) {
      throw mediaError(
        file,
        'unsupported',
        undefined,
        sniffed.codec ? `${sniffed.codec} in ${sniffed.container}` : sniffed.container,
      );
    }
    const base = {
      file,
      bytes: stat.size,
      mtimeMs: stat.mtimeMs,
      container: sniffed.container,
      codec: sniffed.codec,
    };
    switch (sniffed.container) {
      case 'wav':
        return { ...base, ...wavFacts(file, bytes, stat.size), codec: wavCodec(file, bytes) };
      case 'flac':
        return { ...base, ...flacFacts(bytes.subarray(sniffed.tagBytes)) };
      case 'mpeg':
        return {
          ...base,
          ...mpegFacts(bytes, sniffed.tagBytes, stat.size - sniffed.tagBytes),
        };
      case 'ogg': {
        // After any leading tag: the stream's first page.
        const first = bytes.subarray(sniffed.tagBytes);
        const facts = oggFacts(first, sniffed.codec);
        const tail = Buffer.alloc(Math.min(OGG_TAIL_BYTES, stat.size));
        const got = (await handle.read(tail, 0, tail.length, stat.size - tail.length)).bytesRead;
        const serial = oggSerial(first);
        const granule = serial === null ? null : lastOggGranule(tail.subarray(0, got), serial);
        const durationS =
          granule !== null && facts.sampleRate
            ? Math.max(0, granule - facts.preSkip) / facts.sampleRate
            : null;
        return { ...base, sampleRate: facts.sampleRate, channels: facts.channels, durationS };
      }
      default:
        return { ...base, sampleRate: null, channels: null, durationS: null };
    }
  } finally {
    await handle.close().catch(() => {});
  }
}

function wavLayoutOf(file: string, head: Uint8Array) {
  try {
    return parseWavLayout(head);
  } catch (e) {
    if (e instanceof WavHeaderError) {
      throw mediaError(file, e.unsupported ? 'unsupported' : 'corrupt', e, e.why);
    }
    throw e;
  }
}

function wavFacts(file: string, head: Uint8Array, size: number): StreamFacts {
  const { format, dataOffset, dataBytes } = wavLayoutOf(file, head);
  // As the decoder reads it: a header claiming more (or nothing) is read to the end.
  const available = Math.max(0, size - dataOffset);
  const bytes = dataBytes === 0 ? available : Math.min(dataBytes, available);
  if (bytes < format.blockAlign) throw mediaError(file, 'no-audio');
  return {
    sampleRate: format.sampleRate,
    channels: format.channels,
    durationS: Math.floor(bytes / format.blockAlign) / format.sampleRate,
  };
}

function wavCodec(file: string, head: Uint8Array): string {
  const { format } = wavLayoutOf(file, head);
  return `${format.encoding === 'float' ? 'float' : 'pcm'}${format.bitsPerSample}`;
}
