import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseWavHeader, WAV_HEADER_BYTES } from '../../src/core/wav-format';
import { REPO_ROOT } from './steno-cli';

/** Generated fixtures live here (ignored by git). */
export const FIXTURE_DIR = path.join(REPO_ROOT, '.cache', 'fixtures');

/**
 * A spoken sentence from espeak-ng, converted by sox to 48 kHz mono 16-bit (the
 * rate the virtual microphone runs at, so nothing resamples on the way).
 */
export function spokenSentence(name: string, text: string, voice = 'en-us+f3'): string {
  fs.mkdirSync(FIXTURE_DIR, { recursive: true });
  const out = path.join(FIXTURE_DIR, `${name}-48k.wav`);
  if (fs.existsSync(out)) return out;
  const raw = path.join(FIXTURE_DIR, `${name}-${process.pid}.raw.wav`);
  const tmp = `${out}.${process.pid}.tmp.wav`;
  try {
    execFileSync('espeak-ng', ['-v', voice, '-w', raw, text]);
    execFileSync('sox', [raw, '-r', '48000', '-c', '1', '-b', '16', tmp]);
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(raw, { force: true });
    fs.rmSync(tmp, { force: true });
  }
  return out;
}

/** Mono 16-bit samples of a WAV file, as floats. */
export function readMonoSamples(file: string): { rate: number; samples: Float32Array } {
  const buf = fs.readFileSync(file);
  const header = parseWavHeader(buf.subarray(0, Math.min(buf.byteLength, 4096)));
  if (header.format.channels !== 1) throw new Error(`${file}: expected mono`);
  const start = header.dataOffset;
  const end = Math.min(buf.byteLength, start + header.dataBytes);
  const n = Math.floor((end - start) / 2);
  const samples = new Float32Array(n);
  for (let i = 0; i < n; i++) samples[i] = buf.readInt16LE(start + 2 * i) / 32768;
  void WAV_HEADER_BYTES;
  return { rate: header.format.sampleRate, samples };
}

/** `soxi -D`: the duration an independent reader sees, in seconds. */
export function soxDuration(file: string): number {
  return Number(execFileSync('soxi', ['-D', file], { encoding: 'utf8' }).trim());
}
