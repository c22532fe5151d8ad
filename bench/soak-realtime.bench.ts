/**
 * soak-realtime: one long recording in real time through the recorder
 * service, as the app runs it: the (virtual) microphone through the real
 * capture path (naudiodon), the live transcript with the tiny-shaped Whisper
 * model and the generated speaker-embedding model in its model host, the
 * metrics sampler at its own 1 Hz. The synthetic meeting is played into the
 * microphone over and over, so the transcript always has work. Every 10 s,
 * after a forced GC, this process's RSS and heap are read (the host's RSS
 * too, reported only).
 *
 *   npm run bench -- soak-realtime            60 minutes; slopes over minutes 10-60
 *   npm run bench -- soak-realtime --quick    5 minutes; slopes over minutes 1-5
 *
 * Must hold: the least-squares slope of main RSS over the window <= 2 MB per
 * hour, of the heap <= 1 MB per hour, no frame dropped, the recording ended
 * without error and the transcript gave segments while recording. The window
 * leaves out the warm-up (the model host's start, the JIT, the allocator's
 * first growth). `--quick` reports its slopes but does not gate them: 2 MB
 * per hour is 0.13 MB over its four minutes, less than RSS moves between two
 * samples, so its slope says nothing at that resolution (`slopes_gated`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StenoEvent } from '../src/core/api/events';
import { ensureWhisperModel } from '../src/testing/ggml-whisper-model';
import { ensureSpeakerEmbeddingModel } from '../src/testing/speaker-model';
import { ensureSyntheticMeeting } from '../src/testing/synthetic-meeting';
import { StenoService } from '../src/main/services/steno-service';
import { call } from '../src/main/services/service-client';
import {
  requireVirtualMic,
  startPlayingIntoMic,
  type MicPlayback,
} from '../e2e/support/virtual-mic';
import { gc, mb, rssOf, round, slopePerX } from './support';
import { BENCH_HOST_OPTIONS } from './support-live';

const SAMPLE_EVERY_MS = 10_000;
const PROGRESS_EVERY_MS = 60_000;
const MIB = 1024 * 1024;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Plays `wav` into the virtual microphone again each time it ends, until disposed. */
function loopIntoMic(wav: string): { plays: () => number; dispose: () => void } {
  let current: MicPlayback | null = null;
  let plays = 0;
  let stopped = false;
  const next = () => {
    if (stopped) return;
    plays++;
    current = startPlayingIntoMic(wav);
    void current.exited.then(next);
  };
  next();
  return {
    plays: () => plays,
    dispose: () => {
      stopped = true;
      current?.dispose();
    },
  };
}

export default async function soakRealtime(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const minutes = quick ? 5 : 60;
  const windowFromMin = quick ? 1 : 10;
  requireVirtualMic();
  const meeting = await ensureSyntheticMeeting();
  const models = {
    whisper: await ensureWhisperModel('tiny'),
    embedding: await ensureSpeakerEmbeddingModel(),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-soak-realtime-'));
  // The default capture: naudiodon on the default input, the virtual microphone.
  const service = await StenoService.create({ dataDir: dir });
  const playback = loopIntoMic(meeting.wav48k);
  let segments = 0;
  let metricsEvents = 0;
  let finished: Extract<StenoEvent, { type: 'recording.finished' }> | null = null;
  let failed: Extract<StenoEvent, { type: 'recording.failed' }> | null = null;
  let transcriptFinished: Extract<StenoEvent, { type: 'transcript.finished' }> | null = null;
  const errors: string[] = [];
  const sub = service.onDidEvent((e) => {
    if (e.type === 'transcript.segment') segments++;
    else if (e.type === 'metrics') metricsEvents++;
    else if (e.type === 'recording.finished') finished = e;
    else if (e.type === 'recording.failed') failed = e;
    else if (e.type === 'transcript.finished') transcriptFinished = e;
    else if (e.type === 'error') {
      // Capacity: the first 20 errors are kept for the report; the rest are counted on stderr only.
      if (errors.length < 20) errors.push(`${e.context}: ${e.error.message}`);
      process.stderr.write(`soak-realtime: ${e.context}: ${e.error.message}\n`);
    }
  });
  try {
    const options = BENCH_HOST_OPTIONS;
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
    await call(service, 'startRecording', {});
    const startedAt = performance.now();
    const current = service.recorder.current;
    if (!current?.transcriber) throw new Error('the live transcript did not start (see above)');
    const { session, transcriber } = current;
    // Capacity: one entry per SAMPLE_EVERY_MS of the run (361 for 60 minutes).
    const samples = {
      minute: [] as number[],
      rssBytes: [] as number[],
      heapBytes: [] as number[],
      hostRssBytes: [] as number[],
    };
    const take = () => {
      gc();
      const m = process.memoryUsage();
      const hostPid = transcriber.hostPid;
      samples.minute.push((performance.now() - startedAt) / 60_000);
      samples.rssBytes.push(m.rss);
      samples.heapBytes.push(m.heapUsed);
      samples.hostRssBytes.push(hostPid === undefined ? 0 : rssOf(hostPid));
    };
    take();
    let lastProgress = performance.now();
    for (let k = 1; k <= (minutes * 60_000) / SAMPLE_EVERY_MS; k++) {
      // Sampling on a fixed grid: a slow sample does not shift the later ones.
      await sleep(Math.max(0, startedAt + k * SAMPLE_EVERY_MS - performance.now()));
      if (session.currentState === 'ended') break;
      take();
      if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = performance.now();
        process.stderr.write(
          `soak-realtime: ${samples.minute.at(-1)!.toFixed(1)} min, ${segments} segments, ` +
            `rss ${mb(samples.rssBytes.at(-1)!)} MB, heap ${mb(samples.heapBytes.at(-1)!)} MB, ` +
            `host ${mb(samples.hostRssBytes.at(-1)!)} MB, dropped ${session.stats.droppedFrames}\n`,
        );
      }
    }
    const lagAtEndS = transcriber.lagSeconds;
    const restartsBeforeStop = transcriber.hostRestarts;
    const segmentsWhileRecording = segments;
    const stopStarted = performance.now();
    await call(service, 'stopRecording', {});
    // The rest of the transcript: however far it fell behind, the feed's own deadline bounds this.
    await service.recorder.whenIdle();
    const stopS = (performance.now() - stopStarted) / 1000;
    const fin = finished as Extract<StenoEvent, { type: 'recording.finished' }> | null;
    const fail = failed as Extract<StenoEvent, { type: 'recording.failed' }> | null;
    const tfin = transcriptFinished as Extract<StenoEvent, { type: 'transcript.finished' }> | null;
    const stats = fin?.stats ?? fail?.stats ?? null;
    const inWindow = samples.minute
      .map((m, i) => ({ m, i }))
      .filter(({ m }) => m >= windowFromMin)
      .map(({ i }) => i);
    const hours = inWindow.map((i) => samples.minute[i]! / 60);
    const slopeMbPerH = (bytes: number[]) =>
      slopePerX(
        hours,
        inWindow.map((i) => bytes[i]! / MIB),
      );
    const rssSlope = slopeMbPerH(samples.rssBytes);
    const heapSlope = slopeMbPerH(samples.heapBytes);
    const hostSlope = slopeMbPerH(samples.hostRssBytes);
    const result = {
      minutes,
      slope_window_min: [windowFromMin, minutes],
      // Four minutes cannot resolve 2 MB per hour (0.13 MB over the window, less
      // than RSS moves between two samples): only the full run gates the slopes.
      slopes_gated: !quick,
      samples_in_window: inWindow.length,
      main_rss_slope_mb_per_h: round(rssSlope, 2),
      heap_slope_mb_per_h: round(heapSlope, 3),
      host_rss_slope_mb_per_h: round(hostSlope, 2),
      frames_dropped: stats?.framesDropped ?? null,
      captured_s: stats ? round(stats.capturedS, 1) : null,
      ring_high_water_bytes: stats?.ringHighWaterBytes ?? null,
      ring_capacity_bytes: stats?.ringCapacityBytes ?? null,
      recording_error: fail ? fail.error.message : null,
      segments: segmentsWhileRecording,
      segments_after_stop: segments - segmentsWhileRecording,
      transcript_segments: tfin?.segmentCount ?? null,
      speakers: tfin?.speakerCount ?? null,
      host_restarts: tfin?.hostRestarts ?? restartsBeforeStop,
      transcription_lag_s_end: round(lagAtEndS, 2),
      metrics_events: metricsEvents,
      meeting_plays: playback.plays(),
      stop_s: round(stopS, 1),
      errors,
      samples: {
        minute: samples.minute.map((m) => round(m, 3)),
        rss_mb: samples.rssBytes.map(mb),
        heap_mb: samples.heapBytes.map((b) => round(b / MIB, 2)),
        host_rss_mb: samples.hostRssBytes.map(mb),
      },
    };
    const pass =
      fin !== null &&
      fail === null &&
      result.frames_dropped === 0 &&
      segmentsWhileRecording > 0 &&
      (quick || (rssSlope <= 2 && heapSlope <= 1));
    return { ...result, pass };
  } finally {
    playback.dispose();
    sub.dispose();
    await service.shutdown().catch(() => {});
    service.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
