/**
 * A media file's stream parameters and length from a few of its bytes, for
 * the probe that runs before a file is queued: how long it is (for the disk
 * check and the progress bar), its channels and rate. Pure functions over
 * the head (the first SNIFF_BYTES) and, for Ogg, the tail of the file.
 * Figures are null where these bytes cannot tell.
 */

export interface StreamFacts {
  sampleRate: number | null;
  channels: number | null;
  /** Seconds; null when not known from these bytes. */
  durationS: number | null;
}

const UNKNOWN: StreamFacts = { sampleRate: null, channels: null, durationS: null };

/** FLAC: the STREAMINFO block right after "fLaC" holds rate, channels and total samples. */
export function flacFacts(head: Uint8Array): StreamFacts {
  // "fLaC", block header (4 bytes), then STREAMINFO: 34 bytes.
  if (head.length < 8 + 18 || (head[4]! & 0x7f) !== 0) return UNKNOWN;
  const b = (i: number) => head[8 + i]!;
  const sampleRate = (b(10) << 12) | (b(11) << 4) | (b(12) >> 4);
  const channels = ((b(12) >> 1) & 0x07) + 1;
  const totalSamples =
    (b(13) & 0x0f) * 2 ** 32 + ((b(14) << 24) >>> 0) + (b(15) << 16) + (b(16) << 8) + b(17);
  return {
    sampleRate: sampleRate || null,
    channels,
    // 0 total samples: the encoder did not know (a stream).
    durationS: sampleRate > 0 && totalSamples > 0 ? totalSamples / sampleRate : null,
  };
}

/** The first Ogg packet: Opus and Vorbis identification headers give channels and rate. */
export function oggFacts(
  head: Uint8Array,
  codec: string | null,
): StreamFacts & { preSkip: number } {
  if (head.length < 27) return { ...UNKNOWN, preSkip: 0 };
  const packet = 27 + head[26]!;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (codec === 'opus' && packet + 16 <= head.length) {
    // "OpusHead", version, channels, pre-skip (u16), input rate (u32): granules are 48 kHz.
    return {
      sampleRate: 48_000,
      channels: head[packet + 9]!,
      durationS: null,
      preSkip: view.getUint16(packet + 10, true),
    };
  }
  if (codec === 'vorbis' && packet + 16 <= head.length) {
    // "\x01vorbis", version (u32), channels, rate (u32).
    return {
      sampleRate: view.getUint32(packet + 12, true) || null,
      channels: head[packet + 11]!,
      durationS: null,
      preSkip: 0,
    };
  }
  return { ...UNKNOWN, preSkip: 0 };
}

/**
 * The granule position of the last Ogg page in `tail` (the file's last
 * bytes): the stream's length in samples, or null when no page header is in
 * it. Only pages of the first stream's serial number count.
 */
export function lastOggGranule(tail: Uint8Array, serial: number): number | null {
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  for (let at = tail.length - 27; at >= 0; at--) {
    if (
      tail[at] !== 0x4f ||
      tail[at + 1] !== 0x67 ||
      tail[at + 2] !== 0x67 ||
      tail[at + 3] !== 0x53
    ) {
      continue;
    }
    if (view.getUint32(at + 14, true) !== serial) continue;
    const granule = Number(view.getBigInt64(at + 6, true));
    if (granule >= 0) return granule;
  }
  return null;
}

/** The serial number of the Ogg stream whose page starts `head`. */
export function oggSerial(head: Uint8Array): number | null {
  if (head.length < 27) return null;
  return new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(14, true);
}

const MPEG1_BITRATES = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320];
const MPEG2_BITRATES = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
const SAMPLE_RATES = [44_100, 48_000, 32_000];

/**
 * MPEG layer III: rate and channels from the first frame header at `at`;
 * the length from a Xing/Info frame count when the encoder wrote one (VBR),
 * else from the bitrate (exact for constant bitrate).
 */
export function mpegFacts(head: Uint8Array, at: number, audioBytes: number): StreamFacts {
  if (head.length < at + 4 || head[at] !== 0xff || (head[at + 1]! & 0xe0) !== 0xe0) return UNKNOWN;
  const versionBits = (head[at + 1]! >> 3) & 0x03;
  const layer = (head[at + 1]! >> 1) & 0x03;
  const bitrateIndex = head[at + 2]! >> 4;
  const rateIndex = (head[at + 2]! >> 2) & 0x03;
  if (layer !== 1 || versionBits === 1 || rateIndex === 3) return UNKNOWN;
  // 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5 (each halves the rate).
  const divisor = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 4;
  const sampleRate = SAMPLE_RATES[rateIndex]! / divisor;
  const channels = head[at + 3]! >> 6 === 3 ? 1 : 2;
  const samplesPerFrame = versionBits === 3 ? 1152 : 576;
  // The Xing/Info tag sits after the side information in the first frame.
  const side = versionBits === 3 ? (channels === 1 ? 17 : 32) : channels === 1 ? 9 : 17;
  // A frame with a CRC (protection bit 0) has 2 bytes of it before the side information.
  const crc = (head[at + 1]! & 0x01) === 0 ? 2 : 0;
  const tag = at + 4 + crc + side;
  const id = String.fromCharCode(...head.subarray(tag, tag + 4));
  if (
    (id === 'Xing' || id === 'Info') &&
    head.length >= tag + 12 &&
    (head[tag + 7]! & 0x01) !== 0
  ) {
    const frames = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(
      tag + 8,
      false,
    );
    return { sampleRate, channels, durationS: (frames * samplesPerFrame) / sampleRate };
  }
  const kbps = (versionBits === 3 ? MPEG1_BITRATES : MPEG2_BITRATES)[bitrateIndex] ?? 0;
  return {
    sampleRate,
    channels,
    durationS: kbps > 0 ? (audioBytes * 8) / (kbps * 1000) : null,
  };
}
