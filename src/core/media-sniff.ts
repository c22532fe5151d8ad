/**
 * What kind of media file this is, from its first bytes: the container and,
 * where the container says it up front, the audio codec. A file's name is
 * not trusted (a ".m4a" may hold anything): its bytes are.
 *
 * Signatures (all at the start of the file unless said):
 *   RIFF/RF64/BW64 .... WAVE      WAV
 *   fLaC                          FLAC
 *   OggS                          Ogg; the first packet names the codec:
 *                                 "OpusHead" Opus, "\x01vorbis" Vorbis,
 *                                 "\x7fFLAC" FLAC, "Speex   " Speex
 *   ID3 (then a syncsafe size)    an ID3v2 tag, skipped; then what follows
 *   0xFFE sync, layer 1-3         MPEG audio (MP3, MP2)
 *   0xFFF sync, layer 0           ADTS AAC
 *   1A 45 DF A3                   EBML: Matroska, or WebM by its DocType
 *   at 4: "ftyp"                  ISO base media (MP4, M4A, MOV by brand)
 *   at 4: "moov"/"mdat"/"wide"/"free"  QuickTime without ftyp (old MOV)
 */

export type Container =
  'wav' | 'flac' | 'ogg' | 'mpeg' | 'adts' | 'matroska' | 'webm' | 'mp4' | 'mov';

export interface Sniffed {
  container: Container;
  /** The codec when the first bytes name it; null when only deeper parsing can tell. */
  codec: string | null;
  /** Bytes of leading tags (ID3v2) before the audio. */
  tagBytes: number;
  /**
   * Channels, where the first bytes say it and a decoder would not: an MPEG
   * frame header's channel mode (mpg123 always decodes to two channels).
   */
  channels?: number;
}

/**
 * Leading bytes a caller passes: every signature, most ID3 tags (a tag with a
 * large cover picture runs past them: what follows it is taken for MPEG
 * audio), and a WAV header with its metadata chunks.
 */
export const SNIFF_BYTES = 64 * 1024;

export function sniffMedia(head: Uint8Array): Sniffed | null {
  return sniffAt(head, 0);
}

function sniffAt(b: Uint8Array, at: number): Sniffed | null {
  const text = (from: number, length: number) =>
    String.fromCharCode(...b.subarray(at + from, at + from + length));
  const left = b.length - at;
  if (left < 4) return null;
  const four = text(0, 4);
  if ((four === 'RIFF' || four === 'RF64' || four === 'BW64') && text(8, 4) === 'WAVE') {
    return { container: 'wav', codec: null, tagBytes: at };
  }
  if (four === 'fLaC') return { container: 'flac', codec: 'flac', tagBytes: at };
  if (four === 'OggS') return { container: 'ogg', codec: oggCodec(b, at), tagBytes: at };
  if (text(0, 3) === 'ID3' && left >= 10 && at === 0) {
    // ID3v2: 10-byte header, size in 4 syncsafe bytes, +10 with a footer.
    const size =
      ((b[6]! & 0x7f) << 21) | ((b[7]! & 0x7f) << 14) | ((b[8]! & 0x7f) << 7) | (b[9]! & 0x7f);
    const footer = (b[5]! & 0x10) !== 0 ? 10 : 0;
    const next = 10 + size + footer;
    // A tag longer than the head: whatever follows is MPEG audio in practice.
    if (next + 4 > b.length) return { container: 'mpeg', codec: null, tagBytes: next };
    return sniffAt(b, next);
  }
  if (b[at] === 0x1a && b[at + 1] === 0x45 && b[at + 2] === 0xdf && b[at + 3] === 0xa3) {
    // The DocType string sits in the EBML header, within its first few dozen bytes.
    const header = String.fromCharCode(...b.subarray(at, at + 64));
    return {
      container: header.includes('webm') ? 'webm' : 'matroska',
      codec: null,
      tagBytes: at,
    };
  }
  if (left >= 12) {
    const box = text(4, 4);
    if (box === 'ftyp') {
      const brand = text(8, 4);
      return { container: brand === 'qt  ' ? 'mov' : 'mp4', codec: null, tagBytes: at };
    }
    if (box === 'moov' || box === 'mdat' || box === 'wide' || box === 'free') {
      return { container: 'mov', codec: null, tagBytes: at };
    }
  }
  if (b[at] === 0xff && (b[at + 1]! & 0xe0) === 0xe0) {
    const layer = (b[at + 1]! >> 1) & 0x03;
    const version = (b[at + 1]! >> 3) & 0x03;
    if (layer === 0 && (b[at + 1]! & 0xf0) === 0xf0) {
      return { container: 'adts', codec: 'aac', tagBytes: at };
    }
    // Version 01 is reserved; a valid frame also has a bitrate index other than 15.
    if (layer !== 0 && version !== 1 && b[at + 2]! >> 4 !== 0x0f) {
      // Channel mode in the top two bits of the fourth byte: 3 is mono.
      const channels = b[at + 3]! >> 6 === 3 ? 1 : 2;
      return {
        container: 'mpeg',
        codec: ['', 'mp3', 'mp2', 'mp1'][layer]!,
        tagBytes: at,
        channels,
      };
    }
  }
  return null;
}

/** The codec of an Ogg stream from its first page's first packet. */
function oggCodec(b: Uint8Array, at: number): string | null {
  // Page header: 27 bytes, then `segments` lacing values, then the packet.
  if (b.length < at + 27) return null;
  const segments = b[at + 26]!;
  const packet = at + 27 + segments;
  const id = String.fromCharCode(...b.subarray(packet, packet + 8));
  if (id.startsWith('OpusHead')) return 'opus';
  if (id.startsWith('\x01vorbis')) return 'vorbis';
  if (id.startsWith('\x7fFLAC')) return 'flac';
  if (id.startsWith('Speex')) return 'speex';
  return null;
}
