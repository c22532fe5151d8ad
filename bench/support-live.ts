/**
 * Runs the real recording + live-transcript pipeline in this process on a
 * WAV file played as the microphone (FileCapture): for benchmarks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostModelPaths, HostOptions } from '../src/core/host-protocol';
import type { Transcript, TranscriptSegment } from '../src/core/transcript';
import { FileCapture } from '../src/main/capture/file-capture';
import { RecordingsStore } from '../src/main/recording/recordings-store';
import { RecordingSession } from '../src/main/recording/session';
import { LiveTranscriber } from '../src/main/transcription/live-transcriber';
import { bundledVadModelPath } from '../src/main/models';

export interface LiveRun {
  dir: string;
  session: RecordingSession;
  capture: FileCapture;
  transcriber: LiveTranscriber;
  segments: { segment: TranscriptSegment; atMs: number }[];
  finish(): Promise<Transcript>;
  dispose(): void;
}

export const BENCH_HOST_OPTIONS: HostOptions = {
  language: 'en',
  threads: 2,
  maxTokens: 32,
  partials: true,
  embeddingWindowS: 1.5,
};

export async function startLiveRun(
  wav: string | Buffer,
  models: Omit<HostModelPaths, 'vad'>,
  opts: { pacing: 'realtime' | 'manual'; loop?: boolean; options?: Partial<HostOptions> },
): Promise<LiveRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-bench-'));
  const store = new RecordingsStore(dir);
  const capture = new FileCapture(wav, { pacing: opts.pacing, loop: opts.loop });
  const session = await RecordingSession.start({ store, capture });
  const transcriber = new LiveTranscriber({
    folder: session.folder,
    source: {
      audioPath: session.audioPath,
      sampleRate: session.stats.sampleRate,
      writtenFrames: () => session.stats.writtenFrames,
    },
    models: { ...models, vad: bundledVadModelPath() },
    options: { ...BENCH_HOST_OPTIONS, ...opts.options },
  });
  const segments: LiveRun['segments'] = [];
  const sub = transcriber.onDidSegment((segment) =>
    segments.push({ segment, atMs: performance.now() }),
  );
  await transcriber.start();
  return {
    dir,
    session,
    capture,
    transcriber,
    segments,
    async finish() {
      await session.stop();
      return transcriber.finish();
    },
    dispose() {
      sub.dispose();
      transcriber.dispose();
      session.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Pushes the capture as fast as the ring takes it, `seconds` of audio in all. */
export async function pumpFast(run: LiveRun, seconds: number): Promise<void> {
  const chunkFrames = Math.round(run.capture.format.sampleRate / 10);
  const total = Math.ceil((seconds * run.capture.format.sampleRate) / chunkFrames);
  for (let sent = 0; sent < total;) {
    const room = Math.floor(run.session.ringFreeBytes / (chunkFrames * 2));
    const n = Math.min(room, total - sent, 10);
    if (n > 0) {
      run.capture.pump(n);
      sent += n;
    }
    await new Promise((r) => setImmediate(r));
  }
}
