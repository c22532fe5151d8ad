import fs from 'node:fs';
import path from 'node:path';
import { buildWavHeader } from '../core/wav-format';
import type { FeedSource } from '../main/transcription/feed';

/**
 * A finished 48 kHz mono recording of `seconds` in `dir`/audio.wav, as the
 * transcription feed sees one; `written` (all of it, at first) is how much of
 * it counts as recorded so far, so a test can let it grow.
 */
export function wavFeedSource(
  dir: string,
  seconds: number,
  sample: (i: number) => number = () => 0,
): FeedSource & { written: number } {
  const rate = 48_000;
  const frames = seconds * rate;
  const pcm = new Int16Array(frames);
  for (let i = 0; i < frames; i++) pcm[i] = sample(i);
  const file = path.join(dir, 'audio.wav');
  const header = buildWavHeader({ sampleRate: rate, channels: 1, bitsPerSample: 16 }, frames * 2);
  fs.writeFileSync(file, Buffer.concat([header, Buffer.from(pcm.buffer)]));
  const source = {
    audioPath: file,
    sampleRate: rate,
    written: frames,
    writtenFrames: () => source.written,
  };
  return source;
}
