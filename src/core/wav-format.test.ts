import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as wavefileModule from 'wavefile';
import { StenoError } from './errors';
import {
  WAV_HEADER_BYTES,
  buildWavHeader,
  headerPatches,
  needsRf64,
  parseWavHeader,
  type PcmFormat,
} from './wav-format';

// wavefile ships CommonJS: under Node's ESM loader its exports sit on `default`.
const { WaveFile } = ((wavefileModule as unknown as { default?: typeof wavefileModule }).default ??
  wavefileModule) as typeof wavefileModule;

const mono: PcmFormat = { sampleRate: 48000, channels: 1, bitsPerSample: 16 };
const stereo: PcmFormat = { sampleRate: 44100, channels: 2, bitsPerSample: 16 };
/** Largest data size (whole stereo frames) that still fits plain RIFF. */
const MAX_PLAIN_STEREO = Math.floor((0xffffffff - 1 - 72) / 4) * 4;

function applyPatches(format: PcmFormat, dataBytes: number): Buffer {
  const h = buildWavHeader(format, 0);
  for (const p of headerPatches(format, dataBytes)) p.bytes.copy(h, p.offset);
  return h;
}

describe('buildWavHeader', () => {
  it('writes the 80-byte layout with a JUNK chunk reserving room for ds64', () => {
    const h = buildWavHeader(stereo, 4000);
    expect(h.length).toBe(WAV_HEADER_BYTES);
    expect(h.toString('latin1', 0, 4)).toBe('RIFF');
    expect(h.readUInt32LE(4)).toBe(72 + 4000);
    expect(h.toString('latin1', 8, 16)).toBe('WAVEJUNK');
    expect(h.readUInt32LE(16)).toBe(28);
    expect(h.subarray(20, 48).every((b) => b === 0)).toBe(true);
    expect(h.toString('latin1', 48, 52)).toBe('fmt ');
    expect(h.readUInt32LE(52)).toBe(16);
    expect(h.readUInt16LE(56)).toBe(1);
    expect(h.readUInt16LE(58)).toBe(2);
    expect(h.readUInt32LE(60)).toBe(44100);
    expect(h.readUInt32LE(64)).toBe(44100 * 4);
    expect(h.readUInt16LE(68)).toBe(4);
    expect(h.readUInt16LE(70)).toBe(16);
    expect(h.toString('latin1', 72, 76)).toBe('data');
    expect(h.readUInt32LE(76)).toBe(4000);
  });

  it('switches to RF64 exactly when the sizes stop fitting 32 bits', () => {
    expect(needsRf64(MAX_PLAIN_STEREO)).toBe(false);
    expect(needsRf64(MAX_PLAIN_STEREO + 4)).toBe(true);
    const plain = buildWavHeader(stereo, MAX_PLAIN_STEREO);
    expect(plain.toString('latin1', 0, 4)).toBe('RIFF');
    expect(plain.readUInt32LE(4)).toBe(MAX_PLAIN_STEREO + 72);
    const big = 5_000_000_000;
    const rf = buildWavHeader(stereo, big);
    expect(rf.toString('latin1', 0, 4)).toBe('RF64');
    expect(rf.readUInt32LE(4)).toBe(0xffffffff);
    expect(rf.toString('latin1', 12, 16)).toBe('ds64');
    expect(rf.readBigUInt64LE(20)).toBe(BigInt(big + 72));
    expect(rf.readBigUInt64LE(28)).toBe(BigInt(big));
    expect(rf.readBigUInt64LE(36)).toBe(BigInt(big / 4));
    expect(rf.readUInt32LE(44)).toBe(0);
    expect(rf.readUInt32LE(76)).toBe(0xffffffff);
  });

  it('rejects formats and sizes it cannot write', () => {
    const bad = [
      { sampleRate: 0, channels: 1, bitsPerSample: 16 },
      { sampleRate: 44100.5, channels: 1, bitsPerSample: 16 },
      { sampleRate: 44100, channels: 0, bitsPerSample: 16 },
      { sampleRate: 44100, channels: 1, bitsPerSample: 24 },
    ] as PcmFormat[];
    for (const f of bad)
      expect(() => buildWavHeader(f, 0)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    expect(() => buildWavHeader(stereo, 6)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => buildWavHeader(stereo, -4)).toThrow(StenoError);
  });
});

describe('headerPatches', () => {
  const sizes = [
    0,
    4,
    19200 * 4,
    123_456_788,
    MAX_PLAIN_STEREO,
    MAX_PLAIN_STEREO + 4,
    4_300_000_000,
    2 ** 40,
  ];
  it.each(sizes)('turns the empty header into the header for %d bytes', (n) => {
    const patched = applyPatches(stereo, n);
    expect(patched.equals(buildWavHeader(stereo, n))).toBe(true);
    const parsed = parseWavHeader(patched);
    expect(parsed).toEqual({ format: stereo, dataOffset: 80, dataBytes: n, isRf64: needsRf64(n) });
  });

  it('writes only the size fields (and the two ids in RF64)', () => {
    const plain = headerPatches(mono, 1000);
    expect(plain.map((p) => [p.offset, p.bytes.length])).toEqual([
      [4, 4],
      [76, 4],
    ]);
    const rf = headerPatches(mono, 6_000_000_000);
    expect(rf.map((p) => [p.offset, p.bytes.length])).toEqual([
      [0, 8],
      [12, 4],
      [20, 24],
      [76, 4],
    ]);
    // Nothing outside the first 80 bytes, never the fmt chunk.
    for (const p of [...plain, ...rf]) {
      expect(p.offset + p.bytes.length).toBeLessThanOrEqual(80);
      expect(p.offset >= 48 && p.offset < 72).toBe(false);
    }
  });
});

describe('parseWavHeader', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-wavfmt-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads a canonical 44-byte WAV from wavefile', () => {
    const wf = new WaveFile();
    wf.fromScratch(1, 16000, '16', new Int16Array(1234));
    const parsed = parseWavHeader(wf.toBuffer());
    expect(parsed).toEqual({
      format: { sampleRate: 16000, channels: 1, bitsPerSample: 16 },
      dataOffset: 44,
      dataBytes: 2468,
      isRf64: false,
    });
  });

  it('reads files written by sox (WAVE_FORMAT_EXTENSIBLE for 3 channels)', () => {
    const file = path.join(dir, 'three.wav');
    execFileSync('sox', [
      '-n',
      '-r',
      '22050',
      '-c',
      '3',
      '-b',
      '16',
      file,
      'synth',
      '0.1',
      'sine',
      '440',
    ]);
    const buf = fs.readFileSync(file);
    expect(buf.readUInt16LE(20)).toBe(0xfffe);
    const parsed = parseWavHeader(buf);
    expect(parsed.format).toEqual({ sampleRate: 22050, channels: 3, bitsPerSample: 16 });
    expect(parsed.dataBytes).toBe(2205 * 3 * 2);
    expect(buf.length).toBeGreaterThanOrEqual(parsed.dataOffset + parsed.dataBytes);
  });

  it('walks unknown and odd-sized chunks (padded to even) before data', () => {
    const fmt = buildWavHeader(mono, 0).subarray(48, 72);
    const list = Buffer.concat([
      Buffer.from('LIST'),
      u32(5),
      Buffer.from('INFOx'),
      Buffer.alloc(1),
    ]);
    const data = Buffer.concat([Buffer.from('data'), u32(8), Buffer.alloc(8)]);
    const body = Buffer.concat([Buffer.from('WAVE'), list, fmt, data]);
    const file = Buffer.concat([Buffer.from('RIFF'), u32(body.length), body]);
    expect(parseWavHeader(file)).toEqual({
      format: mono,
      dataOffset: file.length - 8,
      dataBytes: 8,
      isRf64: false,
    });
  });

  it.each([
    ['random bytes', Buffer.from('definitely not a wav file at all, no no no')],
    ['too short', Buffer.from('RIFF')],
    ['not WAVE', Buffer.concat([Buffer.from('RIFF'), u32(4), Buffer.from('AVI ')])],
    ['no data chunk', buildWavHeader(mono, 0).subarray(0, 72)],
    [
      'data before fmt',
      Buffer.concat([Buffer.from('RIFF'), u32(12), Buffer.from('WAVEdata'), u32(0)]),
    ],
    ['RF64 without ds64', patchedId(buildWavHeader(mono, 0), 0, 'RF64', 76, 0xffffffff)],
    ['24-bit samples', patchedU16(buildWavHeader(mono, 0), 70, 24)],
    ['float samples', patchedU16(buildWavHeader(mono, 0), 56, 3)],
  ])('throws WAV_UNREADABLE with a reason on %s', (_name, buf) => {
    let err: unknown;
    try {
      parseWavHeader(buf);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StenoError);
    expect((err as StenoError).code).toBe('WAV_UNREADABLE');
    expect((err as StenoError).message).toMatch(/not a WAV file Steno can read: .+/);
  });
});

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}

function patchedId(h: Buffer, at: number, id: string, sizeAt: number, size: number): Buffer {
  const c = Buffer.from(h);
  c.write(id, at, 'latin1');
  c.writeUInt32LE(size, sizeAt);
  return c;
}

function patchedU16(h: Buffer, at: number, v: number): Buffer {
  const c = Buffer.from(h);
  c.writeUInt16LE(v, at);
  return c;
}
