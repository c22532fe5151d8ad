import { StenoError } from '../core/errors';
import { DisposableStore } from '../core/lifecycle';
import { formatSegmentLine, type Transcript } from '../core/transcript';
import type { HostOptions } from '../core/host-protocol';
import { missingModels, resolveModelPaths } from '../main/models';
import { LiveTranscriber } from '../main/transcription/live-transcriber';
import type { RecordingSession } from '../main/recording/session';

export interface LiveTranscriptFlags {
  whisperModel?: string;
  embeddingModel?: string;
  language?: string;
  threads?: number;
  maxTokens?: number;
  partials?: boolean;
}

/**
 * Runs the live transcript beside a recording for the CLI and prints it:
 * final segments as lines (or JSON events), partials only with --json.
 * A transcription problem is printed and never stops the recording.
 */
export async function startLiveTranscript(
  session: RecordingSession,
  flags: LiveTranscriptFlags,
  emit: (event: object) => void,
  json: boolean,
): Promise<{ transcriber: LiveTranscriber; owned: DisposableStore } | null> {
  const models = resolveModelPaths({
    whisper: flags.whisperModel,
    embedding: flags.embeddingModel,
  });
  const missing = missingModels(models);
  if (missing.length > 0) {
    const error = new StenoError(
      'MODEL_INVALID',
      `Transcription is off: no model at ${missing.join(', ')}.`,
      'Put the models there (see README, "Speech models") or pass --whisper-model and --embedding-model; the audio is being recorded.',
    );
    emit({ event: 'transcript-error', error: error.toJSON() });
    process.stderr.write(`steno: ${error.toUserString()}\n`);
    return null;
  }
  const options: HostOptions = {
    language: flags.language ?? 'en',
    threads: flags.threads ?? 2,
    maxTokens: flags.maxTokens ?? 64,
    partials: flags.partials ?? true,
    embeddingWindowS: 1.5,
  };
  const owned = new DisposableStore();
  const transcriber = owned.add(
    new LiveTranscriber({
      folder: session.folder,
      source: {
        audioPath: session.audioPath,
        sampleRate: session.stats.sampleRate,
        writtenFrames: () => session.stats.writtenFrames,
      },
      models,
      options,
    }),
  );
  const names = { speakerNames: {} as Record<number, string> };
  owned.add(
    transcriber.onDidSegment((s) => {
      emit({ event: 'segment', ...s });
      if (!json) process.stdout.write(formatSegmentLine(names, s) + '\n');
    }),
  );
  owned.add(transcriber.onDidPartial((p) => emit({ event: 'partial', ...p })));
  owned.add(
    transcriber.onDidHostCrash((c) => {
      emit({
        event: 'host-crash',
        code: c.exit.code,
        signal: c.exit.signal,
        restartInMs: c.restartInMs,
      });
      if (!json)
        process.stderr.write(
          `steno: the model host stopped (${c.exit.signal ?? c.exit.code}); restarting.\n`,
        );
    }),
  );
  owned.add(transcriber.onDidHostReady((info) => emit({ event: 'host-ready', pid: info.pid })));
  owned.add(
    transcriber.onDidFail((e) => {
      emit({ event: 'transcript-error', error: e.toJSON() });
      process.stderr.write(`steno: ${e.toUserString()}\n`);
    }),
  );
  try {
    await transcriber.start();
  } catch (e) {
    owned.dispose();
    const error =
      e instanceof StenoError
        ? e
        : new StenoError('HOST_FAILED', String(e), 'The audio is being recorded.');
    emit({ event: 'transcript-error', error: error.toJSON() });
    process.stderr.write(`steno: ${error.toUserString()} The audio is still being recorded.\n`);
    return null;
  }
  emit({ event: 'transcript-started', hostPid: transcriber.hostPid });
  return { transcriber, owned };
}

export function printTranscript(t: Transcript): void {
  for (const s of t.segments) process.stdout.write(formatSegmentLine(t, s) + '\n');
}
