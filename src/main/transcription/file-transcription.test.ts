import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStenoError } from '../../core/errors';
import { parseWavHeader } from '../../core/wav-format';
import { ensureMediaFixture, MEDIA_FIXTURES } from '../../testing/media-fixtures';
import { descendants } from '../../testing/process-tree';
import { TEST_HOST_OPTIONS, testModels } from '../../testing/test-models';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { resolveModelPaths } from '../models';
import { FileTranscription, type FileProgress } from './file-transcription';
import { loadTranscript } from './transcript-store';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-file-job-');
});
afterEach(() => removeTempDir(dir));

async function models() {
  const m = await testModels();
  return {
    models: resolveModelPaths({ whisper: m.whisper, embedding: m.embedding }),
    text: m.text,
  };
}

/** Enough tokens for the fixed text whole (the tests' default cap is 8). */
const OPTIONS = { ...TEST_HOST_OPTIONS, maxTokens: 32 };

const fixture = (name: string) => ensureMediaFixture(MEDIA_FIXTURES.find((f) => f.name === name)!);

describe('FileTranscription (the real model host)', () => {
  it('an MP3 becomes audio.wav at 16 kHz and a transcript, with progress to the end', async () => {
    const { models: paths, text } = await models();
    const job = new FileTranscription({
      source: fixture('stereo.mp3'),
      folder: dir,
      models: paths,
      options: OPTIONS,
    });
    const progress: FileProgress[] = [];
    job.onDidProgress((p) => progress.push(p));
    const result = await job.run();
    job.dispose();

    expect(result.decoded).toMatchObject({ container: 'mpeg', codec: 'mp3', channels: 2 });
    expect(result.audioS).toBeCloseTo(6, 2);
    const header = parseWavHeader(fs.readFileSync(path.join(dir, 'audio.wav')).subarray(0, 4096));
    expect(header.format).toEqual({ sampleRate: 16_000, channels: 1, bitsPerSample: 16 });
    expect(header.dataBytes).toBe(6 * 16_000 * 2);

    const transcript = await loadTranscript(dir);
    expect(transcript.segments.length).toBeGreaterThan(0);
    expect(result.segmentCount).toBe(transcript.segments.length);
    expect(transcript.segments.map((s) => s.text).join(' ')).toContain(text);
    // The segments lie inside the file, in order.
    for (const s of transcript.segments) {
      expect(s.startS).toBeGreaterThanOrEqual(0);
      expect(s.endS).toBeLessThanOrEqual(6.01);
    }
    // Progress never goes back, and the last report is the whole file, transcribed.
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.decodedS).toBeGreaterThanOrEqual(progress[i - 1]!.decodedS);
    }
    expect(progress.at(-1)).toEqual({ decodedS: 6, transcribedS: 6, totalS: 6 });
  }, 60_000);

  it.each([
    // The host loads its models before the first byte is decoded.
    ['while the model host starts', (p: FileProgress) => p.decodedS === 0],
    ['while the host transcribes', (p: FileProgress) => p.totalS !== null],
  ])(
    'cancelled %s: it stops within a second, and no model host is left',
    async (_, when) => {
      const { models: paths } = await models();
      // Two minutes (the 6 s file 20 times): long enough to cancel in either phase.
      const long = path.join(dir, 'long.flac');
      execFileSync('ffmpeg', [
        '-v',
        'error',
        '-stream_loop',
        '19',
        '-i',
        fixture('stereo.flac'),
        '-c',
        'copy',
        long,
      ]);
      const folder = path.join(dir, 'job');
      fs.mkdirSync(folder);
      const controller = new AbortController();
      const job = new FileTranscription({
        source: long,
        folder,
        models: paths,
        options: OPTIONS,
        signal: controller.signal,
      });
      let abortedAt = 0;
      let seenAt: FileProgress | null = null;
      job.onDidProgress((p) => {
        if (abortedAt === 0 && when(p)) {
          seenAt = p;
          abortedAt = performance.now();
          controller.abort(new Error('cancelled by the person'));
        }
      });
      await expect(job.run()).rejects.toThrow('cancelled by the person');
      const stopMs = performance.now() - abortedAt;
      job.dispose();
      expect(seenAt).not.toBeNull();
      expect(stopMs).toBeLessThan(1000);
      expect(descendants(process.pid)).toEqual([]);
    },
    60_000,
  );

  it('a file that is no audio fails with its name and reason, and no host is left', async () => {
    const { models: paths } = await models();
    const fake = path.join(dir, 'minutes.m4a');
    fs.writeFileSync(fake, 'Minutes: nothing was decided.\n'.repeat(100));
    const folder = path.join(dir, 'job');
    fs.mkdirSync(folder);
    const job = new FileTranscription({
      source: fake,
      folder,
      models: paths,
      options: OPTIONS,
    });
    const e = await job.run().catch((err: unknown) => err);
    job.dispose();
    expect(isStenoError(e) && e.code).toBe('MEDIA_UNSUPPORTED');
    expect((e as Error).message).toContain(fake);
    expect(descendants(process.pid)).toEqual([]);
  }, 60_000);
});
