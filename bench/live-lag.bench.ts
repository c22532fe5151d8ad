/**
 * live-lag: the synthetic meeting looped into the pipeline in real time
 * (FileCapture paced by the clock) with the tiny-shaped Whisper model. For
 * every utterance: latency from its end (when its last sample was captured)
 * to its final segment. Latency must not creep up over time: the p95 of the
 * last 5 minutes may be at most 1.2 x that of the first 5.
 *
 *   npm run bench -- live-lag            20 minutes
 *   npm run bench -- live-lag --quick    3 minutes (first/last minute compared)
 */
import { ensureWhisperModel } from '../src/testing/ggml-whisper-model';
import { ensureSpeakerEmbeddingModel } from '../src/testing/speaker-model';
import { ensureSyntheticMeeting } from '../src/testing/synthetic-meeting';
import { gc, mb, percentile, round } from './support';
import { startLiveRun } from './support-live';

export default async function liveLag(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const minutes = quick ? 3 : 20;
  const windowMin = quick ? 1 : 5;
  const meeting = await ensureSyntheticMeeting();
  const models = {
    whisper: await ensureWhisperModel('tiny'),
    embedding: await ensureSpeakerEmbeddingModel(),
  };
  gc();
  const rssStart = process.memoryUsage().rss;
  const run = await startLiveRun(meeting.wav48k, models, { pacing: 'realtime', loop: true });
  // The capture clock starts with the session; FileCapture delivers audio
  // second n at about captureStart + n s.
  const captureStart = performance.now();
  const lags: number[] = [];
  try {
    const endAt = captureStart + minutes * 60_000;
    while (performance.now() < endAt) {
      await new Promise((r) => setTimeout(r, 5000));
      const elapsed = (performance.now() - captureStart) / 1000;
      lags.push(run.transcriber.lagSeconds);
      process.stderr.write(
        `live-lag: ${elapsed.toFixed(0)} s, ${run.segments.length} segments, feed lag ${run.transcriber.lagSeconds.toFixed(2)} s, rss ${mb(process.memoryUsage().rss)} MB\n`,
      );
    }
    gc();
    const rssEnd = process.memoryUsage().rss;
    const latencies = run.segments.map(({ segment, atMs }) => ({
      endS: segment.endS,
      latencyS: (atMs - (captureStart + segment.endS * 1000)) / 1000,
    }));
    const all = latencies.map((l) => l.latencyS);
    const first = latencies.filter((l) => l.endS <= windowMin * 60).map((l) => l.latencyS);
    const last = latencies
      .filter((l) => l.endS >= (minutes - windowMin) * 60)
      .map((l) => l.latencyS);
    const p95First = percentile(first, 95);
    const p95Last = percentile(last, 95);
    await run.finish();
    return {
      minutes,
      utterances: latencies.length,
      p50_s: round(percentile(all, 50)),
      p95_s: round(percentile(all, 95)),
      [`p95_first${windowMin}_s`]: round(p95First),
      [`p95_last${windowMin}_s`]: round(p95Last),
      max_feed_lag_s: round(Math.max(...lags)),
      host_restarts: run.transcriber.hostRestarts,
      main_rss_mb_start: mb(rssStart),
      main_rss_mb_end: mb(rssEnd),
      pass: p95Last <= 1.2 * p95First && run.transcriber.hostRestarts === 0,
    };
  } finally {
    run.dispose();
  }
}
