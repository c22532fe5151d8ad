/**
 * decode-speed: for each format, Steno's decode + downmix + resample to 16 kHz
 * mono of 10 minutes of audio (`decodeFileTo16k`, its output discarded)
 * against ffmpeg doing the same (`ffmpeg -threads 1 -i F -ac 1 -ar 16000 -f
 * f32le -` into a pipe that is drained), on the same file. Both run on one
 * core: Steno decodes on the JavaScript thread, ffmpeg is told to use one
 * thread. The files are the test fixtures (src/testing/media-fixtures.ts)
 * looped by ffmpeg's stream copy to 10 minutes.
 *
 * Reported per format: `steno_audio_s_per_s` (audio seconds per wall second,
 * bound >= 100), `ffmpeg_audio_s_per_s`, and `ratio` = Steno's wall time /
 * ffmpeg's (no bound: ffmpeg's decoders are native C, Steno's are WASM or
 * JavaScript). Each side is timed in ROUNDS interleaved rounds; the medians
 * are quoted with their range.
 *
 *   npm run bench -- decode-speed [--quick]   (--quick: 2 minutes, 3 rounds)
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeFileTo16k } from '../src/main/decoding/decode-file';
import { ensureMediaFixture, MEDIA_FIXTURES, requireFfmpeg } from '../src/testing/media-fixtures';
import { round } from './support';

/** One fixture per codec and container family (the variants decode at the same speed). */
const FORMATS = [
  'pcm-s16-stereo.wav',
  'float32-stereo.wav',
  'stereo.mp3',
  'stereo.flac',
  'stereo.ogg',
  'voice.opus',
  'browser.webm',
  'screen.mkv',
] as const;
const MIN_AUDIO_S_PER_S = 100;
/** The fixtures are 6 s long. */
const FIXTURE_S = 6;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

async function timeSteno(file: string): Promise<{ ms: number; samples: number }> {
  const t0 = performance.now();
  const result = await decodeFileTo16k(file, () => {});
  return { ms: performance.now() - t0, samples: result.samples };
}

function timeFfmpeg(file: string): Promise<{ ms: number; samples: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(
      'ffmpeg',
      ['-v', 'error', '-threads', '1', '-i', file, '-ac', '1', '-ar', '16000', '-f', 'f32le', '-'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let bytes = 0;
    child.stdout.on('data', (b: Buffer) => (bytes += b.length));
    child.on('error', reject);
    // 'close': after stdout has been drained, so every sample is counted.
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`ffmpeg exited with ${code} on ${file}`));
      else resolve({ ms: performance.now() - t0, samples: bytes / 4 });
    });
  });
}

export default async function decodeSpeed(argv: string[]): Promise<Record<string, unknown>> {
  const quick = argv.includes('--quick');
  const minutes = quick ? 2 : 10;
  const rounds = quick ? 3 : 5;
  requireFfmpeg();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-bench-decode-'));
  try {
    const files = FORMATS.map((name) => {
      const fixture = MEDIA_FIXTURES.find((f) => f.name === name)!;
      const looped = path.join(work, `${minutes}min-${name}`);
      const loops = Math.round((minutes * 60) / FIXTURE_S) - 1;
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-stream_loop',
        String(loops),
        '-i',
        ensureMediaFixture(fixture),
        // Every stream, the MKV's video too: skipping it is part of the work.
        '-map',
        '0',
        '-c',
        'copy',
        looped,
      ]);
      return { name, file: looped };
    });
    const results: Record<string, Record<string, number>> = {};
    const failures: string[] = [];
    for (const { name, file } of files) {
      process.stderr.write(`decode-speed: ${name} (${minutes} min)\n`);
      const steno: number[] = [];
      const ffmpeg: number[] = [];
      let audioS = 0;
      let ffmpegAudioS = 0;
      for (let r = 0; r < rounds; r++) {
        // Alternate which side goes first, so both sample the same load.
        const sides = r % 2 === 0 ? ['steno', 'ffmpeg'] : ['ffmpeg', 'steno'];
        for (const side of sides) {
          if (side === 'steno') {
            const s = await timeSteno(file);
            steno.push(s.ms);
            audioS = s.samples / 16_000;
          } else {
            const f = await timeFfmpeg(file);
            ffmpeg.push(f.ms);
            ffmpegAudioS = f.samples / 16_000;
          }
        }
      }
      const stenoSpeed = audioS / (median(steno) / 1000);
      results[name] = {
        audio_s: round(audioS, 2),
        ffmpeg_audio_s: round(ffmpegAudioS, 2),
        steno_ms_median: round(median(steno), 0),
        steno_ms_range: round(Math.max(...steno) - Math.min(...steno), 0),
        ffmpeg_ms_median: round(median(ffmpeg), 0),
        ffmpeg_ms_range: round(Math.max(...ffmpeg) - Math.min(...ffmpeg), 0),
        steno_audio_s_per_s: round(stenoSpeed, 1),
        ffmpeg_audio_s_per_s: round(ffmpegAudioS / (median(ffmpeg) / 1000), 1),
        ratio: round(median(steno) / median(ffmpeg), 2),
      };
      if (!(stenoSpeed >= MIN_AUDIO_S_PER_S)) failures.push(`${name} ${round(stenoSpeed, 1)} x`);
    }
    return {
      minutes,
      rounds,
      min_audio_s_per_s: MIN_AUDIO_S_PER_S,
      formats: results,
      failures,
      pass: failures.length === 0,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
