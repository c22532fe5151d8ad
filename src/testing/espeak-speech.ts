import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface SpeakOptions {
  /** espeak-ng voice with variant, e.g. 'en-us+f3'. */
  voice: string;
  /** espeak-ng -p, 0..99 (espeak's default when absent). */
  pitch?: number;
  /** sox effects applied after the conversion, e.g. a silence trim. */
  soxEffects?: readonly string[];
}

/**
 * espeak-ng's `text` as 16 kHz mono float samples, made by sox in `dir`
 * (`<name>.wav` and `<name>.f32` are left there, overwritten on each call).
 */
export function speakAt16k(
  dir: string,
  name: string,
  text: string,
  opts: SpeakOptions,
): Float32Array {
  const wav = path.join(dir, `${name}.wav`);
  const raw = path.join(dir, `${name}.f32`);
  const pitch = opts.pitch === undefined ? [] : ['-p', String(opts.pitch)];
  execFileSync('espeak-ng', ['-v', opts.voice, ...pitch, '-w', wav, text]);
  execFileSync('sox', [
    wav,
    '-r',
    '16000',
    '-c',
    '1',
    '-b',
    '32',
    '-e',
    'floating-point',
    '-t',
    'raw',
    raw,
    ...(opts.soxEffects ?? []),
  ]);
  const bytes = fs.readFileSync(raw);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}
