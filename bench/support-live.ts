/**
 * Runs the real recording + live-transcript pipeline in this process through
 * the recorder service (the same one every front end uses), with a WAV file
 * played as the microphone (FileCapture): for benchmarks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostModelPaths, HostOptions } from '../src/core/host-protocol';
import type { SpeakerCount, Transcript, TranscriptSegment } from '../src/core/transcript';
import type { StenoEvent } from '../src/core/api/events';
import { FileCapture } from '../src/main/capture/file-capture';
import type { RecordingSession } from '../src/main/recording/session';
import type { LiveTranscriber } from '../src/main/transcription/live-transcriber';
import { StenoService, type StenoServiceOptions } from '../src/main/services/steno-service';
import { call, forEachTranscriptPage } from '../src/main/services/service-client';

export interface LiveRun {
  dir: string;
  service: StenoService;
  session: RecordingSession;
  capture: FileCapture;
  transcriber: LiveTranscriber;
  segments: { segment: TranscriptSegment; atMs: number }[];
  /**
   * performance.now() when the capture started delivering: time 0 of the
   * recording (audio second t is "spoken" at captureStartedAtMs + t * 1000).
   */
  readonly captureStartedAtMs: number;
  /** performance.now() when the model host first reported ready (null until it has). */
  readonly hostReadyAtMs: number | null;
  /** Stops the recording, waits for the final transcript and reads it back. */
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

/** A FileCapture that notes when it was started, on the clock of performance.now(). */
class StartTimedFileCapture extends FileCapture {
  startedAtMs: number | null = null;

  override start(): void {
    this.startedAtMs = performance.now();
    super.start();
  }
}

export async function startLiveRun(
  wav: string | Buffer,
  models: Omit<HostModelPaths, 'vad'>,
  opts: {
    pacing: 'realtime' | 'manual';
    loop?: boolean;
    options?: Partial<HostOptions>;
    /** Sees every API event (for benchmarks of the event stream). */
    onEvent?: (e: StenoEvent) => void;
    metricsIntervalMs?: number;
    /**
     * Session knobs. With manual pacing, audio arrives only when the caller
     * pumps, which it cannot do before startRecording resolved (after the
     * model host is ready): a host slower to start than the no-data watchdog
     * ends such a recording, so manual callers raise `watchdogMs`.
     */
    session?: StenoServiceOptions['session'];
    /** How many people speak (default: the setting, 'auto'). */
    speakers?: SpeakerCount;
    speakerTuning?: StenoServiceOptions['speakerTuning'];
  },
): Promise<LiveRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-bench-'));
  const capture = new StartTimedFileCapture(wav, { pacing: opts.pacing, loop: opts.loop });
  const service = await StenoService.create({
    dataDir: dir,
    capture: { listDevices: () => [], open: () => capture },
    ...(opts.metricsIntervalMs ? { metricsIntervalMs: opts.metricsIntervalMs } : {}),
    ...(opts.session ? { session: opts.session } : {}),
    ...(opts.speakerTuning ? { speakerTuning: opts.speakerTuning } : {}),
  });
  const options = { ...BENCH_HOST_OPTIONS, ...opts.options };
  service.settings.override({
    whisperModel: models.whisper,
    embeddingModel: models.embedding,
    language: options.language,
    whisperThreads: options.threads,
    maxTokens: options.maxTokens,
    partials: options.partials,
    liveTranscript: true,
    autoStopAfterHours: null,
  });
  const segments: LiveRun['segments'] = [];
  let hostReadyAtMs: number | null = null;
  const sub = service.onDidEvent((e) => {
    if (e.type === 'transcript.segment')
      segments.push({ segment: e.segment, atMs: performance.now() });
    if (e.type === 'host.state' && e.state === 'ready' && hostReadyAtMs === null)
      hostReadyAtMs = performance.now();
    if (e.type === 'error') process.stderr.write(`bench: ${e.context}: ${e.error.message}\n`);
    opts.onEvent?.(e);
  });
  const live = await call(
    service,
    'startRecording',
    opts.speakers !== undefined ? { speakers: opts.speakers } : {},
  );
  const current = service.recorder.current;
  if (!current?.transcriber) {
    sub.dispose();
    service.dispose();
    throw new Error('the live transcript did not start (see the error above)');
  }
  // RecordingSession.start starts the capture before startRecording resolves.
  const captureStartedAtMs = capture.startedAtMs;
  if (captureStartedAtMs === null) {
    sub.dispose();
    service.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error('the recording started without starting its capture');
  }
  return {
    dir,
    service,
    session: current.session,
    capture,
    transcriber: current.transcriber,
    segments,
    captureStartedAtMs,
    get hostReadyAtMs() {
      return hostReadyAtMs;
    },
    async finish() {
      await call(service, 'stopRecording', {});
      await service.recorder.whenIdle();
      const all: TranscriptSegment[] = [];
      let speakerNames: Record<number, string> = {};
      await forEachTranscriptPage(service, live.id, (page) => {
        all.push(...page.segments);
        speakerNames = page.speakerNames as unknown as Record<number, string>;
      });
      return { segments: all, speakerNames };
    },
    dispose() {
      sub.dispose();
      service.dispose();
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
