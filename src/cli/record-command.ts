import fs from 'node:fs';
import path from 'node:path';
import { StenoError } from '../core/errors';
import { PeakMeter } from '../core/pcm';
import { openNaudiodonCapture } from '../main/capture/naudiodon-capture';
import { defaultRecordingsDir } from '../main/paths';
import { RecordingsStore } from '../main/recording/recordings-store';
import { recoverRecordings } from '../main/recording/recovery';
import { RecordingSession } from '../main/recording/session';
import { DisposableStore, toDisposable } from '../core/lifecycle';
import { printRecovery } from './recovery-output';
import { summarize } from './list-command';
import { printTranscript, startLiveTranscript, type LiveTranscriptFlags } from './live-transcript';

/** How often progress is reported (JSON lines, or the terminal meter). */
const PROGRESS_MS = 100;

interface RecordOptions {
  device?: string | boolean;
  seconds?: string | boolean;
  out?: string | boolean;
  json?: string | boolean;
  transcript?: string | boolean;
  partials?: string | boolean;
  'whisper-model'?: string | boolean;
  'embedding-model'?: string | boolean;
  language?: string | boolean;
  threads?: string | boolean;
  'max-tokens'?: string | boolean;
}

export async function runRecord(opts: RecordOptions): Promise<number> {
  const deviceId =
    opts.device === undefined ? undefined : parseInteger(String(opts.device), '--device');
  const seconds =
    opts.seconds === undefined ? undefined : parsePositive(String(opts.seconds), '--seconds');
  const store = new RecordingsStore(path.resolve(String(opts.out ?? defaultRecordingsDir())));
  const json = Boolean(opts.json);
  const emit = (event: object) => {
    if (json) process.stdout.write(JSON.stringify(event) + '\n');
  };

  // Every flag is checked before the device opens: a typo must not leave a half-started recording.
  const flags: LiveTranscriptFlags = {
    whisperModel: str(opts['whisper-model']),
    embeddingModel: str(opts['embedding-model']),
    language: str(opts.language),
    threads: opts.threads === undefined ? undefined : parseCount(String(opts.threads), '--threads'),
    maxTokens:
      opts['max-tokens'] === undefined
        ? undefined
        : parseCount(String(opts['max-tokens']), '--max-tokens'),
    partials: opts.partials !== false,
  };

  const report = await recoverRecordings(store);
  if (json) emit({ event: 'recovery', ...summarize(report) });
  else printRecovery(report);

  const capture = openNaudiodonCapture({ deviceId });
  const session = await RecordingSession.start({ store, capture });
  const owned = new DisposableStore();
  owned.add(session);

  const { sampleRate, channels } = capture.format;
  emit({
    event: 'started',
    id: session.id,
    path: session.audioPath,
    device: capture.deviceName,
    sampleRate,
    channels,
  });
  if (!json) {
    process.stderr.write(
      `Recording from "${capture.deviceName}" at ${sampleRate} Hz to ${session.audioPath}\n` +
        `Press Ctrl-C to stop.\n`,
    );
  }

  // The live transcript starts beside the recording; the recording never waits for it.
  const live =
    opts.transcript === false
      ? Promise.resolve(null)
      : startLiveTranscript(session, flags, emit, json);

  const meter = new PeakMeter();
  owned.add(session.onDidLevel((l) => meter.add(l)));

  let liveNow: Awaited<typeof live> = null;
  void live.then((l) => (liveNow = l));
  const progress = setInterval(() => {
    const s = session.stats;
    const level = meter.read();
    if (json) {
      emit({
        event: 'progress',
        capturedS: s.capturedFrames / s.sampleRate,
        writtenS: s.writtenFrames / s.sampleRate,
        durableS: s.durableFrames / s.sampleRate,
        droppedFrames: s.droppedFrames,
        lagS: liveNow?.transcriber.lagSeconds ?? null,
        peakDbfs: Math.round(level),
      });
    } else if (process.stderr.isTTY) {
      const bars = Math.max(0, Math.min(30, Math.round((level + 60) / 2)));
      process.stderr.write(
        `\r${(s.capturedFrames / s.sampleRate).toFixed(1).padStart(7)} s  [${'#'.repeat(bars).padEnd(30)}] ${level.toFixed(0).padStart(4)} dBFS`,
      );
    }
  }, PROGRESS_MS);
  owned.add(toDisposable(() => clearInterval(progress)));

  const stopRequested = new Promise<string>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => resolve(signal);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    owned.add(
      toDisposable(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }),
    );
    if (seconds !== undefined) {
      const timer = setTimeout(() => resolve('time'), seconds * 1000);
      owned.add(toDisposable(() => clearTimeout(timer)));
    }
  });
  const failed = new Promise<StenoError>((resolve) => owned.add(session.onDidFail(resolve)));

  const reason = await Promise.race([stopRequested, failed]);
  const meta = await session.stop();
  const stats = session.stats;
  owned.dispose();
  if (process.stderr.isTTY && !json) process.stderr.write('\n');

  const transcriber = await live;
  if (transcriber) {
    if (!json) process.stderr.write('Finishing the transcript...\n');
    const transcript = await transcriber.transcriber.finish();
    emit({
      event: 'transcript',
      segments: transcript.segments,
      speakers: new Set(transcript.segments.map((s) => s.speaker)).size,
      hostRestarts: transcriber.transcriber.hostRestarts,
      duplicatesDropped: transcriber.transcriber.duplicatesDropped,
    });
    if (!json && transcript.segments.length > 0) {
      process.stdout.write('\nTranscript (speakers re-clustered):\n');
      printTranscript(transcript);
    }
    transcriber.owned.dispose();
  }

  const error = session.error;
  emit({
    event: 'stopped',
    id: meta.id,
    state: meta.state,
    durationS: meta.durationS,
    capturedS: stats.capturedFrames / stats.sampleRate,
    droppedFrames: stats.droppedFrames,
    ringHighWaterBytes: stats.ringHighWaterBytes,
    ringCapacityBytes: stats.ringCapacityBytes,
    reason: typeof reason === 'string' ? reason : 'error',
    ...(error ? { error: error.toJSON() } : {}),
  });
  if (error) {
    process.stderr.write(`steno: ${error.toUserString()}\n`);
    if (fs.existsSync(session.audioPath)) {
      process.stderr.write(
        `The audio recorded until then is in ${session.audioPath} (${meta.durationS.toFixed(1)} s).\n`,
      );
    }
    return 1;
  }
  if (!json) process.stderr.write(`Saved ${meta.durationS.toFixed(1)} s to ${session.audioPath}\n`);
  return 0;
}

function str(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function parseInteger(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text)) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `${flag} needs a whole number, got "${text}".`,
      'Run `steno devices` for device ids.',
    );
  }
  return Number.parseInt(text, 10);
}

function parseCount(text: string, flag: string): number {
  if (!/^[1-9]\d{0,3}$/.test(text)) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `${flag} needs a whole number from 1 to 9999, got "${text}".`,
      `For example: ${flag} 2.`,
    );
  }
  return Number.parseInt(text, 10);
}

function parsePositive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `${flag} needs a positive number of seconds, got "${text}".`,
      'For example: --seconds 30.',
    );
  }
  return n;
}
