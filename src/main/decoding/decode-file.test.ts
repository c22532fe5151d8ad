import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStenoError } from '../../core/errors';
import { concatFloat32 } from '../../core/pcm';
import { sniffMedia } from '../../core/media-sniff';
import {
  ensureMediaFixture,
  ffmpegDecode16k,
  MEDIA_FIXTURES,
  UNSUPPORTED_MEDIA_FIXTURES,
} from '../../testing/media-fixtures';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { CHUNK_BYTES, decodeFileTo16k, type DecodeResult } from './decode-file';

/** Pearson correlation of the two signals over their common length, at lag 0. */
function correlation(a: Float32Array, b: Float32Array): number {
  const n = Math.min(a.length, b.length);
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    sa += a[i]!;
    sb += b[i]!;
  }
  const ma = sa / n;
  const mb = sb / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]! - ma;
    const y = b[i]! - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(aa * bb);
}

async function decodeAll(
  file: string,
): Promise<{ samples: Float32Array; chunks: number; result: DecodeResult }> {
  const parts: Float32Array[] = [];
  const result = await decodeFileTo16k(file, (s) => {
    parts.push(s.slice());
  });
  return { samples: concatFloat32(parts), chunks: parts.length, result };
}

describe('decodeFileTo16k against ffmpeg', () => {
  it.each(MEDIA_FIXTURES.map((f) => [f.name, f] as const))(
    '%s: the length within 10 ms of ffmpeg, samples correlated >= 0.99',
    async (_, fixture) => {
      const file = ensureMediaFixture(fixture);
      const head = fs.readFileSync(file).subarray(0, 4096);
      expect(sniffMedia(head)?.container).toBe(fixture.container);
      if (fixture.name === 'rf64.wav') expect(head.toString('latin1', 0, 4)).toBe('RF64');
      // More than two channels: the fmt chunk is WAVE_FORMAT_EXTENSIBLE.
      if (fixture.name === 'pcm-s24-6ch.wav') expect(head.readUInt16LE(20)).toBe(0xfffe);
      const reference = ffmpegDecode16k(file, fixture.referenceDecoder);
      const { samples, result } = await decodeAll(file);
      expect(result).toMatchObject({
        container: fixture.container,
        codec: fixture.codec,
        channels: fixture.channels,
        sampleRate: fixture.sampleRate,
        samples: samples.length,
        damagedFrames: 0,
      });
      const r = correlation(samples, reference);
      console.log(
        `${fixture.name}: ${samples.length} samples against ffmpeg's ${reference.length}, correlation ${r.toFixed(5)}`,
      );
      expect(Math.abs(samples.length - reference.length)).toBeLessThanOrEqual(160);
      expect(r).toBeGreaterThanOrEqual(0.99);
    },
  );
});

/** A 44-byte mono WAV header (16 kHz unless given) with the given format tag and sample size. */
function wavHeader(o: { tag: number; bits: number; dataBytes: number; rate?: number }): Buffer {
  const rate = o.rate ?? 16_000;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + o.dataBytes, 4);
  h.write('WAVE', 8);
  h.write('fmt ', 12);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(o.tag, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE((rate * o.bits) / 8, 28);
  h.writeUInt16LE(o.bits / 8, 32);
  h.writeUInt16LE(o.bits, 34);
  h.write('data', 36);
  h.writeUInt32LE(o.dataBytes, 40);
  return h;
}

describe('decodeFileTo16k on bad input', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('steno-decode-');
  });
  afterEach(() => removeTempDir(dir));

  async function failure(file: string): Promise<{ code: string; message: string; action: string }> {
    try {
      await decodeFileTo16k(file, () => {});
    } catch (e) {
      if (!isStenoError(e)) throw e;
      return { code: e.code, message: e.message, action: e.action };
    }
    throw new Error(`${file} decoded without an error`);
  }

  it('a missing file, a folder and an empty file: each named, with what to do', async () => {
    const missing = path.join(dir, 'gone.mp3');
    expect(await failure(missing)).toMatchObject({
      code: 'MEDIA_NOT_FOUND',
      message: `${missing} does not exist.`,
    });
    expect(await failure(dir)).toMatchObject({
      code: 'MEDIA_NOT_FOUND',
      message: `${dir} is a folder, not a file.`,
    });
    const empty = path.join(dir, 'empty.wav');
    fs.writeFileSync(empty, '');
    const e = await failure(empty);
    expect(e).toMatchObject({ code: 'MEDIA_CORRUPT', message: `${empty} is empty (0 bytes).` });
    expect(e.action.length).toBeGreaterThan(10);
  });

  it.each(UNSUPPORTED_MEDIA_FIXTURES.map((f) => [f.name, f] as const))(
    '%s: a codec Steno does not read yet is named as such',
    async (_, fixture) => {
      const file = ensureMediaFixture(fixture);
      const e = await failure(file);
      expect(e.code).toBe('MEDIA_UNSUPPORTED');
      expect(e.message).toContain(file);
      expect(e.message).toContain('A_VORBIS');
    },
  );

  it('a text file renamed .m4a is not taken for audio', async () => {
    const fake = path.join(dir, 'notes.m4a');
    fs.writeFileSync(fake, 'Minutes of the meeting: nothing was decided.\n'.repeat(50));
    expect(await failure(fake)).toMatchObject({
      code: 'MEDIA_UNSUPPORTED',
      message: `${fake} is not an audio or video format Steno knows.`,
    });
  });

  it('a WAV cut inside its header is damaged; one cut inside its audio gives what it holds', async () => {
    const fixture = MEDIA_FIXTURES.find((f) => f.name === 'pcm-s16-stereo.wav')!;
    const whole = fs.readFileSync(ensureMediaFixture(fixture));
    const cutHeader = path.join(dir, 'cut-header.wav');
    fs.writeFileSync(cutHeader, whole.subarray(0, 30));
    expect((await failure(cutHeader)).code).toBe('MEDIA_CORRUPT');
    // Half the audio: decoded up to where it ends, as a person expects of a
    // recording that was cut off (its header still claims the whole length).
    const cutAudio = path.join(dir, 'cut-audio.wav');
    const half = Math.floor(whole.length / 2);
    fs.writeFileSync(cutAudio, whole.subarray(0, half - (half % 4)));
    const { samples } = await decodeAll(cutAudio);
    const full = await decodeAll(ensureMediaFixture(fixture));
    expect(samples.length / full.samples.length).toBeCloseTo(0.5, 2);
  });

  it('an MP3 frame header before noise, and a FLAC cut in half', async () => {
    // A valid MPEG-1 layer III frame header, then bytes that are no frames.
    const noise = Buffer.alloc(64 * 1024);
    let x = 12345;
    for (let i = 0; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const fake = path.join(dir, 'noise.mp3');
    fs.writeFileSync(fake, Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), noise]));
    // mpg123 makes one frame (26 ms) of the header and skips the rest.
    expect((await failure(fake)).code).toBe('MEDIA_CORRUPT');
    const flac = MEDIA_FIXTURES.find((f) => f.name === 'stereo.flac')!;
    const whole = fs.readFileSync(ensureMediaFixture(flac));
    const half = path.join(dir, 'half.flac');
    fs.writeFileSync(half, whole.subarray(0, Math.floor(whole.length / 2)));
    const { samples } = await decodeAll(half);
    expect(samples.length / 96_000).toBeGreaterThan(0.3);
    expect(samples.length / 96_000).toBeLessThan(0.8);
  });

  it('a WAV at a rate the resampler cannot take is refused with the rate', async () => {
    const header = Buffer.concat([
      wavHeader({ tag: 1, bits: 16, dataBytes: 4, rate: 4_000_000 }), // 4 MHz
      Buffer.alloc(4),
    ]);
    const file = path.join(dir, 'radio.wav');
    fs.writeFileSync(file, header);
    expect(await failure(file)).toMatchObject({
      code: 'MEDIA_UNSUPPORTED',
      message: `${file} uses a format Steno cannot decode yet (its sample rate is 4000000 Hz).`,
    });
  });

  it('a WAV of another sample format is unsupported, not damaged; a data size of 0 is read to the end', async () => {
    const mulaw = wavHeader({ tag: 7, bits: 8, dataBytes: 16_000 });
    const phone = path.join(dir, 'voicemail.wav');
    fs.writeFileSync(phone, Buffer.concat([mulaw, Buffer.alloc(16_000, 0xff)]));
    expect(await failure(phone)).toMatchObject({
      code: 'MEDIA_UNSUPPORTED',
      message: `${phone} uses a format Steno cannot decode yet (its sample format is 0x7, neither PCM nor float).`,
    });
    // A writer killed before it fixed its sizes: 1 s of 16-bit audio after a header claiming none.
    const killed = path.join(dir, 'killed.wav');
    const tone = Buffer.alloc(32_000);
    for (let i = 0; i < 16_000; i++) tone.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), i * 2);
    fs.writeFileSync(killed, Buffer.concat([wavHeader({ tag: 1, bits: 16, dataBytes: 0 }), tone]));
    const { samples } = await decodeAll(killed);
    expect(samples.length).toBe(16_000);
  });

  it('a WAV whose data chunk is empty holds no audio', async () => {
    const header = wavHeader({ tag: 3, bits: 32, dataBytes: 0 }); // IEEE float
    const file = path.join(dir, 'silent-header.wav');
    fs.writeFileSync(file, header);
    expect(await failure(file)).toMatchObject({
      code: 'MEDIA_CORRUPT',
      message: `${file} holds no audio.`,
    });
  });

  it('reads in bounded chunks and stops when asked', async () => {
    const fixture = MEDIA_FIXTURES.find((f) => f.name === 'float32-stereo.wav')!;
    const file = ensureMediaFixture(fixture);
    const { chunks } = await decodeAll(file);
    // 6 s of 48 kHz stereo float is 2.3 MB: read in 256 KiB steps.
    expect(chunks).toBeGreaterThanOrEqual(Math.floor(fs.statSync(file).size / CHUNK_BYTES));
    const controller = new AbortController();
    let delivered = 0;
    const run = decodeFileTo16k(
      file,
      (s) => {
        delivered += s.length;
        controller.abort(new Error('cancelled by the person'));
      },
      { signal: controller.signal },
    );
    await expect(run).rejects.toThrow('cancelled by the person');
    expect(delivered).toBeLessThan(16_000 * 2);
  });
});
