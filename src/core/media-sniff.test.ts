import { describe, expect, it } from 'vitest';
import { sniffMedia } from './media-sniff';

const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)),
  );

/** An Ogg page header of one segment whose packet starts with `id`. */
const oggPage = (id: string) =>
  bytes('OggS', [0, 2, ...new Array<number>(20).fill(0), 1, id.length], id, new Array(16).fill(0));

describe('sniffMedia', () => {
  it('knows the containers by their first bytes', () => {
    expect(sniffMedia(bytes('RIFF', [0, 0, 0, 0], 'WAVEfmt '))).toMatchObject({ container: 'wav' });
    expect(sniffMedia(bytes('RF64', [255, 255, 255, 255], 'WAVEds64'))?.container).toBe('wav');
    expect(sniffMedia(bytes('fLaC', [0, 0, 0, 34])))?.toMatchObject({
      container: 'flac',
      codec: 'flac',
    });
    expect(sniffMedia(bytes([0, 0, 0, 32], 'ftypM4A ', [0, 0, 0, 0]))?.container).toBe('mp4');
    expect(sniffMedia(bytes([0, 0, 0, 20], 'ftypqt  ', [0, 0, 0, 0]))?.container).toBe('mov');
    expect(sniffMedia(bytes([0, 0, 0, 8], 'wide', [0, 0, 0, 0]))?.container).toBe('mov');
    const ebml = [0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84];
    expect(sniffMedia(bytes(ebml, 'webm', [0, 0]))?.container).toBe('webm');
    expect(sniffMedia(bytes(ebml, 'matroska')))?.toMatchObject({ container: 'matroska' });
  });

  it('names the Ogg codec from the first packet', () => {
    expect(sniffMedia(oggPage('OpusHead'))?.codec).toBe('opus');
    expect(sniffMedia(oggPage('\x01vorbis'))?.codec).toBe('vorbis');
    expect(sniffMedia(oggPage('\x7fFLAC'))?.codec).toBe('flac');
    expect(sniffMedia(oggPage('Speex   '))?.codec).toBe('speex');
    expect(sniffMedia(oggPage('\x80theora'))).toEqual({
      container: 'ogg',
      codec: null,
      tagBytes: 0,
    });
  });

  it('MPEG audio by its frame sync, after an ID3 tag', () => {
    // MPEG-1 layer III, 128 kbit/s, 44.1 kHz.
    const frame = [0xff, 0xfb, 0x90, 0x64];
    expect(sniffMedia(bytes(frame, new Array(8).fill(0)))).toEqual({
      container: 'mpeg',
      codec: 'mp3',
      tagBytes: 0,
      channels: 2, // 0x64: channel mode 01, joint stereo
    });
    expect(sniffMedia(bytes([0xff, 0xfb, 0x90, 0xc4], new Array(8).fill(0)))?.channels).toBe(1);
    // ID3v2.4, a tag of 20 bytes (syncsafe), then the frame.
    const id3 = bytes('ID3', [4, 0, 0, 0, 0, 0, 20], new Array(20).fill(0), frame, [0, 0, 0, 0]);
    expect(sniffMedia(id3)).toEqual({ container: 'mpeg', codec: 'mp3', tagBytes: 30, channels: 2 });
    // ADTS AAC: sync with layer 00.
    expect(sniffMedia(bytes([0xff, 0xf1, 0x50, 0x80], new Array(8).fill(0)))).toMatchObject({
      container: 'adts',
      codec: 'aac',
    });
  });

  it('anything else is unknown: text, a reserved MPEG version, too few bytes', () => {
    expect(sniffMedia(bytes('Minutes of the meeting'))).toBeNull();
    expect(sniffMedia(bytes([0xff, 0xeb, 0x90, 0x64]))).toBeNull();
    expect(sniffMedia(bytes('RIF'))).toBeNull();
    expect(sniffMedia(new Uint8Array(0))).toBeNull();
    expect(sniffMedia(bytes('RIFF', [0, 0, 0, 0], 'AVI LIST'))).toBeNull();
  });
});
