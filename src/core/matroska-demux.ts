/**
 * The audio track of a Matroska or WebM file, frame by frame, as a stream:
 * bytes go in in chunks of any size, codec frames come out. Enough of
 * Matroska for audio (the EBML layout of Segment, Tracks, Cluster, Block):
 *
 * - Master elements that hold what is needed (Segment, Tracks, TrackEntry,
 *   Audio, Cluster, BlockGroup) are entered, whatever their size, so files
 *   of unknown size (a browser's MediaRecorder writes them) read the same.
 * - Leaves that are needed (track fields, the audio track's blocks) are read
 *   whole; everything else (SeekHead, Cues, Tags, Attachments, other tracks'
 *   blocks such as video frames) is skipped by its size without being
 *   buffered.
 * - Blocks without lacing and with fixed-size lacing are read (what browsers
 *   and ffmpeg write for audio); Xiph and EBML lacing are refused.
 *
 * Memory: the bytes of one element header or one needed leaf at a time,
 * at most MAX_LEAF_BYTES.
 */

export interface MatroskaAudioTrack {
  number: number;
  /** The Matroska codec id: "A_OPUS", "A_VORBIS", "A_AAC", "A_FLAC", ... */
  codecId: string;
  codecPrivate: Uint8Array | null;
  sampleRate: number;
  channels: number;
}

export interface MatroskaFrame {
  data: Uint8Array;
  /** Nanoseconds of padding to drop from the end of this frame's audio (DiscardPadding). */
  discardPaddingNs: number;
}

/** A needed leaf larger than this (64 MiB) is taken for damage, not read. */
export const MAX_LEAF_BYTES = 64 * 1024 * 1024;

const ID = {
  ebml: 0x1a45dfa3,
  segment: 0x18538067,
  tracks: 0x1654ae6b,
  trackEntry: 0xae,
  trackNumber: 0xd7,
  trackType: 0x83,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  audio: 0xe1,
  samplingFrequency: 0xb5,
  channels: 0x9f,
  cluster: 0x1f43b675,
  simpleBlock: 0xa3,
  blockGroup: 0xa0,
  block: 0xa1,
  discardPadding: 0x75a2,
} as const;

const ENTERED: ReadonlySet<number> = new Set([
  ID.segment,
  ID.tracks,
  ID.trackEntry,
  ID.audio,
  ID.cluster,
  ID.blockGroup,
]);
const READ: ReadonlySet<number> = new Set([
  ID.trackNumber,
  ID.trackType,
  ID.codecId,
  ID.codecPrivate,
  ID.samplingFrequency,
  ID.channels,
  ID.simpleBlock,
  ID.block,
  ID.discardPadding,
]);
const TRACK_TYPE_AUDIO = 2;

export class MatroskaFormatError extends Error {}

interface TrackDraft {
  number: number;
  type: number;
  codecId: string;
  codecPrivate: Uint8Array | null;
  sampleRate: number;
  channels: number;
}

export class MatroskaAudioDemuxer {
  private pending: Uint8Array = new Uint8Array(0);
  /** Bytes still to skip of an element that is not needed. */
  private skipping = 0;
  private readonly drafts: TrackDraft[] = [];
  private chosen: MatroskaAudioTrack | null = null;
  /** A Block inside a BlockGroup waits for the group's DiscardPadding. */
  private groupFrame: Uint8Array | null = null;
  private sawHeader = false;

  /** The first audio track, once the Tracks element has been read. */
  get track(): MatroskaAudioTrack | null {
    return this.chosen;
  }

  /** Frames of the audio track completed by `bytes`. */
  push(bytes: Uint8Array): MatroskaFrame[] {
    const frames: MatroskaFrame[] = [];
    // While skipping, nothing is pending: the whole chunk is the buffer.
    const buf = this.pending.length > 0 ? concat(this.pending, bytes) : bytes;
    let at = 0;
    for (;;) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, buf.length - at);
        this.skipping -= n;
        at += n;
        if (this.skipping > 0) break;
      }
      const header = readElementHeader(buf, at);
      if (!header) break;
      if (!this.sawHeader) {
        if (header.id !== ID.ebml)
          throw new MatroskaFormatError('it does not start with an EBML header');
        this.sawHeader = true;
      }
      const bodyAt = at + header.length;
      if (ENTERED.has(header.id)) {
        this.enter(header.id, frames);
        at = bodyAt;
        continue;
      }
      if (header.size === null) {
        throw new MatroskaFormatError(`element 0x${header.id.toString(16)} has an unknown size`);
      }
      if (!READ.has(header.id)) {
        at = bodyAt;
        this.skipping = header.size;
        continue;
      }
      if ((header.id === ID.simpleBlock || header.id === ID.block) && this.chosen) {
        // Another track's block (video, a second audio track): skipped by
        // its size as soon as its track number is known, never buffered.
        const track = readVint(buf, bodyAt, false);
        if (!track) break;
        if (track.value !== this.chosen.number) {
          at = bodyAt;
          this.skipping = header.size;
          continue;
        }
      }
      if (header.size > MAX_LEAF_BYTES) {
        throw new MatroskaFormatError(`an element of ${header.size} bytes is too large for audio`);
      }
      if (buf.length - bodyAt < header.size) break; // the rest of the leaf is in the next chunk
      this.leaf(header.id, buf.subarray(bodyAt, bodyAt + header.size), frames);
      at = bodyAt + header.size;
    }
    // Keep the unread tail (an element header or a needed leaf cut by the chunk), copied.
    this.pending = copyOf(buf.subarray(at));
    return frames;
  }

  /** At the end of the file: a frame still waiting for its group's end. */
  end(): MatroskaFrame[] {
    const frames: MatroskaFrame[] = [];
    this.closeGroup(frames);
    return frames;
  }

  private enter(id: number, frames: MatroskaFrame[]): void {
    // A new element closes the BlockGroup before it, and the Tracks element
    // ends where the first Cluster starts.
    this.closeGroup(frames);
    if (id === ID.trackEntry) {
      this.drafts.push({
        number: 0,
        type: 0,
        codecId: '',
        codecPrivate: null,
        sampleRate: 8000,
        channels: 1,
      });
    } else if (id === ID.cluster && !this.chosen) {
      const audio = this.drafts.find((d) => d.type === TRACK_TYPE_AUDIO);
      if (!audio) throw new MatroskaFormatError('it has no audio track');
      const { type: _type, ...track } = audio;
      this.chosen = track;
    }
  }

  private leaf(id: number, body: Uint8Array, frames: MatroskaFrame[]): void {
    const draft = this.drafts.at(-1);
    switch (id) {
      case ID.trackNumber:
        if (draft) draft.number = readUint(body);
        return;
      case ID.trackType:
        if (draft) draft.type = readUint(body);
        return;
      case ID.codecId:
        if (draft) draft.codecId = String.fromCharCode(...body).replace(/\0+$/, '');
        return;
      case ID.codecPrivate:
        if (draft) draft.codecPrivate = copyOf(body);
        return;
      case ID.samplingFrequency:
        if (draft) draft.sampleRate = readFloat(body);
        return;
      case ID.channels:
        if (draft) draft.channels = readUint(body);
        return;
      case ID.simpleBlock:
        this.closeGroup(frames);
        for (const data of this.blockFrames(body)) frames.push({ data, discardPaddingNs: 0 });
        return;
      case ID.block: {
        this.closeGroup(frames);
        const laced = this.blockFrames(body);
        // A group's padding applies to its last frame; earlier laced frames go now.
        for (const data of laced.slice(0, -1)) frames.push({ data, discardPaddingNs: 0 });
        this.groupFrame = laced.at(-1) ?? null;
        return;
      }
      case ID.discardPadding:
        if (this.groupFrame) {
          frames.push({ data: this.groupFrame, discardPaddingNs: Math.max(0, readInt(body)) });
          this.groupFrame = null;
        }
        return;
    }
  }

  private closeGroup(frames: MatroskaFrame[]): void {
    if (this.groupFrame) {
      frames.push({ data: this.groupFrame, discardPaddingNs: 0 });
      this.groupFrame = null;
    }
  }

  /** The frames of a (Simple)Block of the chosen track; none for other tracks. */
  private blockFrames(body: Uint8Array): Uint8Array[] {
    const track = readVint(body, 0, false);
    if (!track || !this.chosen || track.value !== this.chosen.number) return [];
    const flagsAt = track.length + 2; // then a signed 16-bit relative timecode
    if (body.length <= flagsAt) throw new MatroskaFormatError('a block is cut short');
    const lacing = (body[flagsAt]! >> 1) & 0x03;
    const payload = body.subarray(flagsAt + 1);
    if (lacing === 0) return [copyOf(payload)];
    if (lacing === 2) {
      // Fixed-size lacing: a count byte (frames - 1), then equal frames.
      const count = payload[0]! + 1;
      const data = payload.subarray(1);
      if (data.length % count !== 0)
        throw new MatroskaFormatError('a laced block does not divide evenly');
      const size = data.length / count;
      return Array.from({ length: count }, (_, i) =>
        copyOf(data.subarray(i * size, (i + 1) * size)),
      );
    }
    throw new MatroskaFormatError('it uses Xiph or EBML lacing, which Steno does not read yet');
  }
}

interface ElementHeader {
  id: number;
  /** Null: unknown size (all ones), allowed for master elements. */
  size: number | null;
  /** Bytes of the ID and size fields. */
  length: number;
}

function readElementHeader(buf: Uint8Array, at: number): ElementHeader | null {
  const id = readVint(buf, at, true);
  if (!id) return null;
  if (id.length > 4) throw new MatroskaFormatError('an element id longer than 4 bytes');
  const size = readVint(buf, at + id.length, false);
  if (!size) return null;
  return { id: id.value, size: size.unknown ? null : size.value, length: id.length + size.length };
}

interface Vint {
  value: number;
  length: number;
  unknown: boolean;
}

/**
 * An EBML variable-length integer at `at`, or null when the bytes end first.
 * IDs keep their length marker; sizes drop it.
 */
function readVint(buf: Uint8Array, at: number, keepMarker: boolean): Vint | null {
  if (at >= buf.length) return null;
  const first = buf[at]!;
  if (first === 0) throw new MatroskaFormatError('a variable-length integer longer than 8 bytes');
  const length = Math.clz32(first) - 23; // 1 for 0b1xxxxxxx ... 8 for 0b00000001
  if (at + length > buf.length) return null;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const b = buf[at + i]!;
    value = value * 256 + b;
    if (b !== 0xff) allOnes = false;
  }
  return { value, length, unknown: !keepMarker && allOnes };
}

function readUint(body: Uint8Array): number {
  let v = 0;
  for (const b of body) v = v * 256 + b;
  return v;
}

function readInt(body: Uint8Array): number {
  if (body.length === 0) return 0;
  let v = readUint(body);
  if (body[0]! & 0x80) v -= 2 ** (8 * body.length);
  return v;
}

function readFloat(body: Uint8Array): number {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  if (body.length === 4) return view.getFloat32(0);
  if (body.length === 8) return view.getFloat64(0);
  throw new MatroskaFormatError(`a float of ${body.length} bytes`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * A copy that owns its bytes. (`slice` is not one: a Node Buffer's slice is
 * a view, and callers pass Buffers they reuse for the next read.)
 */
function copyOf(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
