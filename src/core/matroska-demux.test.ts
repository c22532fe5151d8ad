import { describe, expect, it } from 'vitest';
import { MatroskaAudioDemuxer, MatroskaFormatError, type MatroskaFrame } from './matroska-demux';

/** An EBML element: id bytes, a size (1-byte vint, or unknown), body. */
function el(id: number[], body: number[] | Uint8Array, unknownSize = false): number[] {
  const bytes = Array.from(body);
  if (unknownSize) return [...id, 0xff, ...bytes];
  if (bytes.length > 126) throw new Error('test element too long for a 1-byte size');
  return [...id, 0x80 | bytes.length, ...bytes];
}

const str = (s: string) => [...s].map((c) => c.charCodeAt(0));
const float32 = (x: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x);
  return Array.from(b);
};

/** A live-style WebM: Segment and Cluster of unknown size, a video and an audio track. */
function liveWebm(): Uint8Array {
  const header = el([0x1a, 0x45, 0xdf, 0xa3], el([0x42, 0x82], str('webm')));
  const video = el([0xae], [...el([0xd7], [1]), ...el([0x83], [1]), ...el([0x86], str('V_VP8'))]);
  const audio = el(
    [0xae],
    [
      ...el([0xd7], [2]),
      ...el([0x83], [2]),
      ...el([0x86], str('A_OPUS')),
      ...el([0x63, 0xa2], [...str('OpusHead'), 1, 1, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]),
      ...el([0xe1], [...el([0xb5], float32(48_000)), ...el([0x9f], [1])]),
    ],
  );
  const tracks = el([0x16, 0x54, 0xae, 0x6b], [...video, ...audio]);
  // SimpleBlock: track vint, timecode (2), flags, frame.
  const block = (track: number, frame: number[]) =>
    el([0xa3], [0x80 | track, 0, 0, 0x80, ...frame]);
  const lastGroup = el(
    [0xa0],
    [
      ...el([0xa1], [0x82, 0, 40, 0, 7, 7]),
      ...el([0x75, 0xa2], [0x00, 0x98, 0x96, 0x80]), // 10 ms of padding
    ],
  );
  const cluster = el(
    [0x1f, 0x43, 0xb6, 0x75],
    [
      ...el([0xe7], [0]),
      ...block(1, [9, 9, 9, 9]),
      ...block(2, [1, 2, 3]),
      ...el([0x1c, 0x53, 0xbb, 0x6b], [1, 2, 3, 4]), // an element that is skipped
      ...block(2, [4, 5]),
      ...lastGroup,
    ],
    true,
  );
  return Uint8Array.from([
    ...header,
    ...el([0x18, 0x53, 0x80, 0x67], [...tracks, ...cluster], true),
  ]);
}

function demux(
  bytes: Uint8Array,
  chunk: number,
): { frames: MatroskaFrame[]; demuxer: MatroskaAudioDemuxer } {
  const demuxer = new MatroskaAudioDemuxer();
  const frames: MatroskaFrame[] = [];
  for (let at = 0; at < bytes.length; at += chunk)
    frames.push(...demuxer.push(bytes.subarray(at, at + chunk)));
  frames.push(...demuxer.end());
  return { frames, demuxer };
}

describe('MatroskaAudioDemuxer', () => {
  it.each([1, 3, 7, 4096])(
    'the audio frames of a live WebM, fed %i bytes at a time, with the last frame padding',
    (chunk) => {
      const { frames, demuxer } = demux(liveWebm(), chunk);
      expect(demuxer.track).toMatchObject({
        number: 2,
        codecId: 'A_OPUS',
        sampleRate: 48_000,
        channels: 1,
      });
      expect(frames.map((f) => Array.from(f.data))).toEqual([
        [1, 2, 3],
        [4, 5],
        [7, 7],
      ]);
      expect(frames.map((f) => f.discardPaddingNs)).toEqual([0, 0, 10_000_000]);
    },
  );

  it('refuses what is not Matroska, a file without audio, and lacing it does not read', () => {
    expect(() => new MatroskaAudioDemuxer().push(Uint8Array.from(str('OggS....')))).toThrow(
      MatroskaFormatError,
    );
    const header = el([0x1a, 0x45, 0xdf, 0xa3], []);
    const videoOnly = el(
      [0x16, 0x54, 0xae, 0x6b],
      el([0xae], [...el([0xd7], [1]), ...el([0x83], [1])]),
    );
    const cluster = el([0x1f, 0x43, 0xb6, 0x75], [], true);
    const noAudio = Uint8Array.from([
      ...header,
      ...el([0x18, 0x53, 0x80, 0x67], [...videoOnly, ...cluster], true),
    ]);
    expect(() => new MatroskaAudioDemuxer().push(noAudio)).toThrow('no audio track');
    const audioTrack = el(
      [0x16, 0x54, 0xae, 0x6b],
      el([0xae], [...el([0xd7], [1]), ...el([0x83], [2])]),
    );
    const xiphLaced = el(
      [0x1f, 0x43, 0xb6, 0x75],
      el([0xa3], [0x81, 0, 0, 0x82, 1, 2, 3, 4]),
      true,
    );
    const laced = Uint8Array.from([
      ...header,
      ...el([0x18, 0x53, 0x80, 0x67], [...audioTrack, ...xiphLaced], true),
    ]);
    expect(() => new MatroskaAudioDemuxer().push(laced)).toThrow('Xiph or EBML lacing');
  });
});

describe('MatroskaAudioDemuxer with a reused read buffer', () => {
  it('keeps what it needs when the caller overwrites its chunk (as a file reader does)', () => {
    const bytes = liveWebm();
    const expected = demux(bytes, 5).frames.map((f) => Array.from(f.data));
    const demuxer = new MatroskaAudioDemuxer();
    const reused = Buffer.alloc(5);
    const frames: MatroskaFrame[] = [];
    for (let at = 0; at < bytes.length; at += 5) {
      const n = Math.min(5, bytes.length - at);
      reused.set(bytes.subarray(at, at + n));
      frames.push(...demuxer.push(reused.subarray(0, n)));
      reused.fill(0xee);
    }
    frames.push(...demuxer.end());
    expect(frames.map((f) => Array.from(f.data))).toEqual(expected);
    expect(demuxer.track?.codecPrivate?.subarray(0, 8)).toEqual(Uint8Array.from(str('OpusHead')));
  });
});

describe('MatroskaAudioDemuxer and other tracks', () => {
  it('skips a video block larger than MAX_LEAF_BYTES without buffering it', () => {
    const header = el([0x1a, 0x45, 0xdf, 0xa3], []);
    const tracks = el(
      [0x16, 0x54, 0xae, 0x6b],
      [
        ...el([0xae], [...el([0xd7], [1]), ...el([0x83], [1])]),
        ...el([0xae], [...el([0xd7], [2]), ...el([0x83], [2]), ...el([0x86], str('A_OPUS'))]),
      ],
    );
    // A 65 MiB SimpleBlock of track 1: its size as an 8-byte vint.
    const size = 65 * 1024 * 1024;
    const videoHeader = [
      0xa3,
      0x01,
      0,
      0,
      0,
      (size >>> 24) & 0xff,
      (size >> 16) & 0xff,
      (size >> 8) & 0xff,
      size & 0xff,
    ];
    const start = Uint8Array.from([
      ...header,
      ...[0x18, 0x53, 0x80, 0x67, 0xff],
      ...tracks,
      ...[0x1f, 0x43, 0xb6, 0x75, 0xff],
      ...videoHeader,
      0x81,
    ]);
    const demuxer = new MatroskaAudioDemuxer();
    expect(demuxer.push(start)).toEqual([]);
    const megabyte = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 65; i++)
      expect(demuxer.push(i === 64 ? megabyte.subarray(1) : megabyte)).toEqual([]);
    const audio = el([0xa3], [0x82, 0, 0, 0x80, 5, 6]);
    expect(demuxer.push(Uint8Array.from(audio)).map((f) => Array.from(f.data))).toEqual([[5, 6]]);
  });
});
