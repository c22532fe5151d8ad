/**
 * The WAV header Steno writes, and a reader for WAV headers in general.
 *
 * Steno's header is 80 bytes, so audio always starts at byte 80 and the header
 * can be made true by patching a few size fields in place, never by moving audio:
 *
 *   0  'RIFF' | 'RF64'     4  u32 riff size (0xFFFFFFFF in RF64)     8  'WAVE'
 *  12  'JUNK' | 'ds64'    16  u32 28
 *  20  u64 riff size      28  u64 data size    36  u64 sample count    44  u32 table length
 *  48  'fmt '             52  u32 16
 *  56  u16 1 (PCM)        58  u16 channels     60  u32 sample rate
 *  64  u32 byte rate      68  u16 block align  70  u16 bits per sample
 *  72  'data'             76  u32 data size (0xFFFFFFFF in RF64)
 *  80  audio
 *
 * The JUNK chunk reserves room for RF64's `ds64` chunk (EBU Tech 3306), so a
 * recording that passes 4 GiB turns into RF64 by rewriting two chunk ids and the
 * size fields. Readers that do not know RF64 skip a JUNK chunk as unknown.
 */
import { StenoError } from './errors';

export const WAV_HEADER_BYTES = 80;

export interface PcmFormat {
  sampleRate: number;
  channels: number;
  bitsPerSample: 16;
}

export interface ParsedWavHeader {
  format: PcmFormat;
  /** Byte offset of the first audio byte. */
  dataOffset: number;
  /** Audio bytes the header claims (from ds64 in RF64 files). May exceed what the caller passed. */
  dataBytes: number;
  isRf64: boolean;
}

export interface HeaderPatch {
  offset: number;
  bytes: Buffer;
}

/** The 32-bit size value that means "see ds64" in RF64. */
const U32_SENTINEL = 0xffffffff;
const DS64_PAYLOAD_BYTES = 28;
/** riff size = file size - 8 = header (80) - 8 + data. */
const RIFF_SIZE_OVERHEAD = WAV_HEADER_BYTES - 8;
const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Offsets of the fields that change with the data size. */
const OFF = {
  riffId: 0,
  riffSize: 4,
  junkId: 12,
  ds64RiffSize: 20,
  ds64DataSize: 28,
  ds64SampleCount: 36,
  dataSize: 76,
} as const;

export function blockAlignOf(format: PcmFormat): number {
  return format.channels * (format.bitsPerSample / 8);
}

/** Throws INVALID_ARGUMENT unless `format` is one Steno can write. */
export function assertPcmFormat(format: PcmFormat): void {
  const ok =
    Number.isInteger(format.sampleRate) &&
    format.sampleRate > 0 &&
    format.sampleRate <= 0xffffffff &&
    Number.isInteger(format.channels) &&
    format.channels >= 1 &&
    format.channels <= 64 &&
    format.bitsPerSample === 16 &&
    // byte rate is a u32 field
    format.sampleRate * format.channels * 2 <= 0xffffffff;
  if (!ok) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `Unsupported audio format ${JSON.stringify(format)}: Steno writes 16-bit PCM with 1-64 channels.`,
      'Use a positive integer sample rate, 1-64 channels and 16 bits per sample.',
    );
  }
}

function assertDataBytes(format: PcmFormat, dataBytes: number): void {
  if (!Number.isSafeInteger(dataBytes) || dataBytes < 0 || dataBytes % blockAlignOf(format) !== 0) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `A WAV data size must be a whole number of frames (${blockAlignOf(format)} bytes); got ${dataBytes}.`,
      'This is a bug in Steno; please report it.',
    );
  }
}

/** Whether a file with `dataBytes` of audio needs RF64 (its sizes do not fit the u32 fields). */
export function needsRf64(dataBytes: number): boolean {
  // 0xFFFFFFFF itself is reserved as the RF64 sentinel, so it may not be used as a size.
  return RIFF_SIZE_OVERHEAD + dataBytes >= U32_SENTINEL;
}

/** Builds the 80-byte header for `dataBytes` of audio in `format`. */
export function buildWavHeader(format: PcmFormat, dataBytes: number): Buffer {
  assertPcmFormat(format);
  assertDataBytes(format, dataBytes);
  const b = Buffer.alloc(WAV_HEADER_BYTES);
  b.write('RIFF', 0, 'latin1');
  b.write('WAVE', 8, 'latin1');
  b.write('JUNK', OFF.junkId, 'latin1');
  b.writeUInt32LE(DS64_PAYLOAD_BYTES, 16);
  // JUNK payload stays zero until RF64; ds64's table length (44) stays 0 always.
  b.write('fmt ', 48, 'latin1');
  b.writeUInt32LE(16, 52);
  b.writeUInt16LE(WAVE_FORMAT_PCM, 56);
  b.writeUInt16LE(format.channels, 58);
  b.writeUInt32LE(format.sampleRate, 60);
  b.writeUInt32LE(format.sampleRate * blockAlignOf(format), 64);
  b.writeUInt16LE(blockAlignOf(format), 68);
  b.writeUInt16LE(format.bitsPerSample, 70);
  b.write('data', 72, 'latin1');
  for (const p of headerPatches(format, dataBytes)) p.bytes.copy(b, p.offset);
  return b;
}

/**
 * The writes that turn `buildWavHeader(format, 0)` into `buildWavHeader(format, dataBytes)`.
 * Only size fields (and, past 4 GiB, the two chunk ids) change; all of them sit in
 * the first 80 bytes, inside one disk sector, so a crash leaves either the old or
 * the new header on drives that write sectors atomically.
 * Plain RIFF: 2 writes of 4 bytes. RF64: 4 writes (id+size, ds64 id, ds64 sizes, data size).
 */
export function headerPatches(format: PcmFormat, dataBytes: number): HeaderPatch[] {
  assertDataBytes(format, dataBytes);
  const riffSize = RIFF_SIZE_OVERHEAD + dataBytes;
  if (!needsRf64(dataBytes)) {
    return [
      { offset: OFF.riffSize, bytes: u32(riffSize) },
      { offset: OFF.dataSize, bytes: u32(dataBytes) },
    ];
  }
  const head = Buffer.alloc(8);
  head.write('RF64', 0, 'latin1');
  head.writeUInt32LE(U32_SENTINEL, 4);
  const sizes = Buffer.alloc(OFF.ds64SampleCount + 8 - OFF.ds64RiffSize);
  sizes.writeBigUInt64LE(BigInt(riffSize), 0);
  sizes.writeBigUInt64LE(BigInt(dataBytes), OFF.ds64DataSize - OFF.ds64RiffSize);
  sizes.writeBigUInt64LE(
    BigInt(dataBytes / blockAlignOf(format)),
    OFF.ds64SampleCount - OFF.ds64RiffSize,
  );
  return [
    { offset: OFF.riffId, bytes: head },
    { offset: OFF.junkId, bytes: Buffer.from('ds64', 'latin1') },
    { offset: OFF.ds64RiffSize, bytes: sizes },
    { offset: OFF.dataSize, bytes: u32(U32_SENTINEL) },
  ];
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}

/**
 * A WAV header Steno cannot use: `why` alone says what is wrong (for callers
 * that word their own message), `unsupported` that the file is a valid WAV of
 * a kind Steno does not read (another sample format), not a damaged one.
 */
export class WavHeaderError extends StenoError {
  constructor(
    readonly why: string,
    readonly unsupported = false,
  ) {
    super(
      'WAV_UNREADABLE',
      `This is not a WAV file Steno can read: ${why}.`,
      'Convert the file to 16-bit PCM WAV, or, for a recording, let Steno repair it on the next start.',
    );
  }
}

function unreadable(why: string): WavHeaderError {
  return new WavHeaderError(why);
}

function unsupported(why: string): WavHeaderError {
  return new WavHeaderError(why, true);
}

/** How a WAV file's samples are stored, as its fmt chunk says. */
export interface WavSampleFormat {
  /** Integer PCM (8-bit unsigned, 16/24/32-bit signed) or IEEE float (32/64-bit). */
  encoding: 'pcm' | 'float';
  bitsPerSample: number;
  channels: number;
  sampleRate: number;
  /** Bytes per frame (all channels of one sample time). */
  blockAlign: number;
}

export interface WavLayout {
  format: WavSampleFormat;
  /** Byte offset of the first audio byte. */
  dataOffset: number;
  /** Audio bytes the header claims (from ds64 in RF64 files). May exceed the file. */
  dataBytes: number;
  isRf64: boolean;
}

/**
 * Reads a WAV header from the first bytes of a file (Steno's own or any other
 * writer's), walking chunks until `data`. Understands RIFF, RF64/BW64 (ds64),
 * WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT and WAVE_FORMAT_EXTENSIBLE with
 * either sub-format, odd-sized chunks (padded to even) and unknown chunks
 * (LIST, fact, JUNK, bext...). `buf` must reach at least the `data` chunk
 * header; 64 KiB is plenty for real files.
 */
export function parseWavLayout(buf: Uint8Array): WavLayout {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const id = (at: number): string =>
    String.fromCharCode(buf[at] ?? 0, buf[at + 1] ?? 0, buf[at + 2] ?? 0, buf[at + 3] ?? 0);
  if (buf.byteLength < 12)
    throw unreadable(`only ${buf.byteLength} bytes, shorter than a RIFF header`);
  const magic = id(0);
  if (magic !== 'RIFF' && magic !== 'RF64' && magic !== 'BW64') {
    throw unreadable(`it starts with ${JSON.stringify(magic)} instead of "RIFF" or "RF64"`);
  }
  if (id(8) !== 'WAVE') throw unreadable(`the RIFF form is ${JSON.stringify(id(8))}, not "WAVE"`);
  const isRf64 = magic !== 'RIFF';

  let ds64DataSize: number | null = null;
  let format: WavSampleFormat | null = null;
  let pos = 12;
  while (pos + 8 <= buf.byteLength) {
    const chunkId = id(pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (chunkId === 'ds64') {
      if (size < 24 || body + 24 > buf.byteLength) throw unreadable('its ds64 chunk is truncated');
      ds64DataSize = Number(view.getBigUint64(body + 8, true));
    } else if (chunkId === 'fmt ') {
      if (size < 16 || body + 16 > buf.byteLength) throw unreadable('its fmt chunk is truncated');
      format = readFmt(view, body, size);
    } else if (chunkId === 'data') {
      if (!format) throw unreadable('the data chunk comes before any fmt chunk');
      let dataBytes = size;
      if (size === U32_SENTINEL && isRf64) {
        if (ds64DataSize === null) throw unreadable('it is RF64 but has no ds64 chunk before data');
        dataBytes = ds64DataSize;
      }
      return { format, dataOffset: body, dataBytes, isRf64 };
    }
    // Chunks are padded to an even size.
    pos = body + size + (size & 1);
  }
  throw unreadable(
    format
      ? `no data chunk in the first ${buf.byteLength} bytes`
      : `no fmt chunk in the first ${buf.byteLength} bytes`,
  );
}

/** A WAV header of the kind Steno records: 16-bit integer PCM (see parseWavLayout). */
export function parseWavHeader(buf: Uint8Array): ParsedWavHeader {
  const { format, dataOffset, dataBytes, isRf64 } = parseWavLayout(buf);
  if (format.encoding !== 'pcm')
    throw unreadable('its samples are floating point, not integer PCM');
  if (format.bitsPerSample !== 16)
    throw unreadable(`it has ${format.bitsPerSample}-bit samples; Steno reads 16-bit PCM`);
  return {
    format: { sampleRate: format.sampleRate, channels: format.channels, bitsPerSample: 16 },
    dataOffset,
    dataBytes,
    isRf64,
  };
}

const SUPPORTED_BITS = { pcm: [8, 16, 24, 32], float: [32, 64] } as const;

function readFmt(view: DataView, at: number, size: number): WavSampleFormat {
  let tag = view.getUint16(at, true);
  const channels = view.getUint16(at + 2, true);
  const sampleRate = view.getUint32(at + 4, true);
  const bits = view.getUint16(at + 14, true);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    // cbSize(2) validBits(2) channelMask(4) then a GUID whose first 2 bytes are the format tag.
    if (size < 40) throw unreadable('its WAVE_FORMAT_EXTENSIBLE fmt chunk is truncated');
    tag = view.getUint16(at + 24, true);
  }
  if (tag !== WAVE_FORMAT_PCM && tag !== WAVE_FORMAT_IEEE_FLOAT)
    throw unsupported(`its sample format is 0x${tag.toString(16)}, neither PCM nor float`);
  const encoding = tag === WAVE_FORMAT_PCM ? 'pcm' : 'float';
  if (!(SUPPORTED_BITS[encoding] as readonly number[]).includes(bits))
    throw unsupported(`it has ${bits}-bit ${encoding === 'pcm' ? 'integer' : 'float'} samples`);
  if (channels < 1 || sampleRate < 1)
    throw unreadable(`it claims ${channels} channels at ${sampleRate} Hz`);
  // The frame size follows from the container bits (24 valid bits in a
  // 32-bit container read as 32-bit); a header's block align is not trusted.
  return { encoding, bitsPerSample: bits, channels, sampleRate, blockAlign: channels * (bits / 8) };
}
