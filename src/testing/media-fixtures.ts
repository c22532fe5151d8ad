/**
 * Audio files of every format Steno accepts, made at test time by ffmpeg
 * (Debian's package: only for fixtures and as the independent reference
 * decoder, never at run time) from espeak-ng speech, into the ignored cache
 * `.cache/media/`. A missing ffmpeg or espeak-ng fails the test that needs
 * them, with what to install.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Container } from '../core/media-sniff';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MEDIA_CACHE = path.join(repoRoot, '.cache/media');

/** Bump when the recipe of any fixture changes: the cache is keyed by it. */
const RECIPE_VERSION = 1;

export interface MediaFixtureSpec {
  /** The file's name in the cache, its extension included. */
  name: string;
  container: Container;
  /** The codec as decodeFileTo16k names it. */
  codec: string;
  channels: number;
  sampleRate: number;
  /** ffmpeg's output options (codec, sample format, muxer flags). */
  ffmpeg: readonly string[];
  /** The decoder ffmpeg uses for the reference, when not its default one. */
  referenceDecoder?: string;
  /** A video stream (black frames, H.264) beside the audio: a screen recording. */
  withVideo?: boolean;
}

/** One fixture per format and variant the file decoder must read. */
export const MEDIA_FIXTURES: readonly MediaFixtureSpec[] = [
  spec('pcm-u8.wav', 'wav', 'pcm8', 1, 22_050, ['-c:a', 'pcm_u8']),
  spec('pcm-s16-stereo.wav', 'wav', 'pcm16', 2, 44_100, ['-c:a', 'pcm_s16le']),
  // More than two channels: ffmpeg writes WAVE_FORMAT_EXTENSIBLE.
  spec('pcm-s24-6ch.wav', 'wav', 'pcm24', 6, 48_000, ['-c:a', 'pcm_s24le']),
  spec('pcm-s32.wav', 'wav', 'pcm32', 1, 32_000, ['-c:a', 'pcm_s32le']),
  spec('float32-stereo.wav', 'wav', 'float32', 2, 48_000, ['-c:a', 'pcm_f32le']),
  spec('float64.wav', 'wav', 'float64', 1, 8_000, ['-c:a', 'pcm_f64le']),
  spec('rf64.wav', 'wav', 'pcm16', 1, 16_000, ['-c:a', 'pcm_s16le', '-rf64', 'always']),
  // With an ID3v2 tag in front, as most MP3s have.
  spec('stereo.mp3', 'mpeg', 'mp3', 2, 44_100, [
    '-c:a',
    'libmp3lame',
    '-b:a',
    '96k',
    '-id3v2_version',
    '3',
    '-metadata',
    'title=Weekly sync',
  ]),
  spec('mono-22k.mp3', 'mpeg', 'mp3', 1, 22_050, ['-c:a', 'libmp3lame', '-q:a', '6']),
  spec('stereo.flac', 'flac', 'flac', 2, 44_100, ['-c:a', 'flac']),
  spec('24bit-96k.flac', 'flac', 'flac', 1, 96_000, ['-c:a', 'flac', '-sample_fmt', 's32']),
  spec('stereo.ogg', 'ogg', 'vorbis', 2, 44_100, ['-c:a', 'libvorbis', '-q:a', '3']),
  opus('voice.opus', 'ogg', 1, ['-b:a', '32k']),
  opus('browser.webm', 'webm', 2, ['-b:a', '48k']),
  // As a live stream is written: the Segment's size unknown (all ones).
  opus('live.webm', 'webm', 1, ['-f', 'webm', '-live', '1']),
  opus('audio.mka', 'matroska', 1, ['-b:a', '32k']),
  {
    ...opus('screen.mkv', 'matroska', 2, ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-shortest']),
    withVideo: true,
  },
];

/** Formats Steno does not decode yet, for the tests of their errors. */
export const UNSUPPORTED_MEDIA_FIXTURES: readonly MediaFixtureSpec[] = [
  spec('vorbis.webm', 'webm', 'vorbis', 2, 44_100, ['-c:a', 'libvorbis']),
];

function spec(
  name: string,
  container: Container,
  codec: string,
  channels: number,
  sampleRate: number,
  ffmpeg: readonly string[],
): MediaFixtureSpec {
  return { name, container, codec, channels, sampleRate, ffmpeg };
}

/**
 * An Opus fixture at 48 kHz, referenced against libopus: ffmpeg's own Opus
 * decoder and libopus differ on these files (their decodes correlate 0.9654
 * with each other on voice.opus).
 */
function opus(
  name: string,
  container: Container,
  channels: number,
  ffmpeg: readonly string[],
): MediaFixtureSpec {
  return {
    ...spec(name, container, 'opus', channels, 48_000, ['-c:a', 'libopus', ...ffmpeg]),
    referenceDecoder: 'libopus',
  };
}

/** ffmpeg is needed: fail with what to install, never skip. */
export function requireFfmpeg(): void {
  const r = spawnSync('ffmpeg', ['-version'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      'ffmpeg is needed to make the test files of every format: apt-get install ffmpeg',
    );
  }
}

/**
 * Six seconds of two espeak voices, one on each channel of a 48 kHz stereo
 * float WAV (different speech left and right, so a downmix that drops a
 * channel shows): the source every fixture is encoded from.
 */
export function ensureSpeechSource(): string {
  const dir = path.join(MEDIA_CACHE, `v${RECIPE_VERSION}`);
  const source = path.join(dir, 'source-48k-stereo.wav');
  if (fs.existsSync(source)) return source;
  fs.mkdirSync(dir, { recursive: true });
  const left = path.join(dir, 'left.wav');
  const right = path.join(dir, 'right.wav');
  execFileSync('espeak-ng', [
    '-v',
    'en-us+f3',
    '-w',
    left,
    'Steno reads every file a meeting leaves behind, from a phone memo to a video call.',
  ]);
  execFileSync('espeak-ng', [
    '-v',
    'en-gb+m3',
    '-w',
    right,
    'The other side answers a little later, in a lower voice, on the right channel.',
  ]);
  const partial = `${source}.partial.wav`;
  const l48 = path.join(dir, 'left-48k.wav');
  const r48 = path.join(dir, 'right-48k.wav');
  // Each voice at 48 kHz and exactly 6 s (the right one 0.7 s late), then side by side.
  execFileSync('sox', [left, '-r', '48000', l48, 'pad', '0', '6', 'trim', '0', '6']);
  execFileSync('sox', [right, '-r', '48000', r48, 'pad', '0.7', '6', 'trim', '0', '6']);
  execFileSync('sox', ['-M', l48, r48, '-e', 'floating-point', '-b', '32', partial]);
  for (const f of [l48, r48]) fs.rmSync(f, { force: true });
  fs.renameSync(partial, source);
  fs.rmSync(left, { force: true });
  fs.rmSync(right, { force: true });
  return source;
}

/** The fixture's file, made from the speech source on first use. */
export function ensureMediaFixture(fixture: MediaFixtureSpec): string {
  requireFfmpeg();
  const source = ensureSpeechSource();
  const file = path.join(path.dirname(source), fixture.name);
  if (fs.existsSync(file)) return file;
  const partial = path.join(path.dirname(file), `partial-${fixture.name}`);
  const video = fixture.withVideo
    ? ['-f', 'lavfi', '-i', 'color=c=black:s=160x120:r=10', '-map', '0:a', '-map', '1:v']
    : [];
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-i',
    source,
    ...video,
    '-ac',
    String(fixture.channels),
    '-ar',
    String(fixture.sampleRate),
    ...fixture.ffmpeg,
    partial,
  ]);
  fs.renameSync(partial, file);
  return file;
}

/** ffmpeg's own decode of `file` to 16 kHz mono float: the reference. */
export function ffmpegDecode16k(file: string, decoder?: string): Float32Array {
  requireFfmpeg();
  const input = [...(decoder ? ['-c:a', decoder] : []), '-i', file];
  const bytes = execFileSync(
    'ffmpeg',
    ['-v', 'error', ...input, '-ac', '1', '-ar', '16000', '-f', 'f32le', '-'],
    { maxBuffer: 1 << 28 },
  );
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}
