/**
 * api-events: a recording with the live transcript (the synthetic meeting
 * looped in real time through the recorder service, the tiny-shaped Whisper
 * model) served by `steno serve`'s server to two WebSocket clients in
 * another process: one reads everything, one stops reading at once. The
 * server's memory must not grow with the stuck client (it is disconnected),
 * the reading client must get every final segment, and the metrics sampler
 * must cost at most 0.1% of a core.
 *
 *   npm run bench -- api-events            5 minutes
 *   npm run bench -- api-events --quick    1 minute
 *
 * The server's RSS is reported (start, end, max), and whether the stuck
 * client was sent away: at real rates (about 1.5 KB/s of events) the
 * kernel's socket buffers hold many minutes of them, so within a run it
 * usually is not; the server holds nothing for it meanwhile. The bound on a
 * stuck client's memory under a flood is asserted by
 * src/main/serve/slow-client.test.ts.
 *
 * metrics_cpu_pct: the sampler's CPU per sample (see measureMetricsCpu), times
 * one sample a second, as a share of one core.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { ensureWhisperModel } from '../src/testing/ggml-whisper-model';
import { ensureSpeakerEmbeddingModel } from '../src/testing/speaker-model';
import { ensureSyntheticMeeting } from '../src/testing/synthetic-meeting';
import { StenoServer } from '../src/main/serve/steno-server';
import { gc, mb, median, round } from './support';
import { startLiveRun } from './support-live';

const HERE = path.dirname(new URL(import.meta.url).pathname);
/** Window pairs for the sampler's cost, each window this long. */
const MEASURE_PAIRS = 5;
const MEASURE_WINDOW_MS = 4000;

export default async function apiEvents(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const minutes = quick ? 1 : 5;
  const meeting = await ensureSyntheticMeeting();
  const models = {
    whisper: await ensureWhisperModel('tiny'),
    embedding: await ensureSpeakerEmbeddingModel(),
  };
  let segmentsEmitted = 0;
  const run = await startLiveRun(meeting.wav48k, models, {
    pacing: 'realtime',
    loop: true,
    onEvent: (e) => {
      if (e.type === 'transcript.segment') segmentsEmitted++;
    },
  });
  const server = await StenoServer.start({
    backend: run.service,
    rendererDir: path.join(HERE, 'no-renderer'),
  });
  let stuckBye: string | null = null;
  const byeSub = server.onDidDisconnectClient((d) => (stuckBye ??= d.bye?.code ?? null));
  const clients = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(HERE, 'api-events-clients.ts'), server.apiUrl],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = readline.createInterface({ input: clients.stdout! });
  const nextLine = () => new Promise<string>((resolve) => lines.once('line', resolve));
  try {
    if ((await nextLine()) !== 'ready') throw new Error('the clients did not connect');
    gc();
    const rssStart = process.memoryUsage().rss;
    const startedAt = performance.now();
    const endAt = startedAt + minutes * 60_000;
    let rssMax = rssStart;
    while (performance.now() < endAt) {
      await new Promise((r) => setTimeout(r, 5000));
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
      process.stderr.write(
        `api-events: ${((performance.now() - startedAt) / 1000).toFixed(0)} s, ${segmentsEmitted} segments, ` +
          `${server.clientCount} clients, rss ${mb(process.memoryUsage().rss)} MB\n`,
      );
    }
    gc();
    const rssEnd = process.memoryUsage().rss;
    const metricsCpu = await measureMetricsCpu(run.service.metrics);
    // Stop, so that no segment is still on its way when the count is taken:
    // the reader reports once it has seen transcript.finished, the last event.
    await run.finish();
    const reportLine = nextLine();
    clients.stdin!.write('report\n');
    const report = JSON.parse(await reportLine) as {
      reader: { events: number; finished: boolean; segmentIds: number[] };
      stuck: { events: number; closed: boolean; bye: string | null };
    };
    const segmentsLost = segmentsEmitted - new Set(report.reader.segmentIds).size;
    const result = {
      minutes,
      server_rss_mb_start: mb(rssStart),
      server_rss_mb_end: mb(rssEnd),
      server_rss_mb_max: mb(rssMax),
      events_delivered: report.reader.events,
      reader_saw_end: report.reader.finished,
      segments_emitted: segmentsEmitted,
      segments_lost: segmentsLost,
      stuck_client_events: report.stuck.events,
      stuck_client_disconnected: stuckBye !== null || report.stuck.closed,
      stuck_client_reason: stuckBye,
      metrics_cpu_pct: round(metricsCpu.pct, 4),
      metrics_cpu_us_per_sample: round(metricsCpu.usPerSample, 1),
      metrics_cpu_us_spread: metricsCpu.spreadUs.map((x) => round(x, 1)),
      metrics_samples_measured: metricsCpu.samples,
    };
    return {
      ...result,
      pass: segmentsLost === 0 && segmentsEmitted > 0 && metricsCpu.pct <= 0.1,
    };
  } finally {
    byeSub.dispose();
    clients.kill();
    await server.close();
    server.dispose();
    run.dispose();
  }
}

/** CPU of the process (all threads), microseconds. */
function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/**
 * The sampler's CPU per sample: pairs of equal windows, one with the
 * recording as it runs (the sampler at its own 1 Hz), one with samples taken
 * back to back besides; per pair, the extra CPU over the extra samples. The
 * median of the pairs is the figure, the spread is reported (never clamped:
 * noise may make a pair negative).
 */
async function measureMetricsCpu(metrics: {
  sample(): Promise<unknown>;
}): Promise<{ pct: number; usPerSample: number; spreadUs: [number, number]; samples: number }> {
  const perPair: number[] = [];
  let samples = 0;
  for (let pair = 0; pair < MEASURE_PAIRS; pair++) {
    const a0 = cpuMicros();
    const aStart = performance.now();
    await new Promise((r) => setTimeout(r, MEASURE_WINDOW_MS));
    const aWall = performance.now() - aStart;
    const aCpu = cpuMicros() - a0;
    const b0 = cpuMicros();
    const bStart = performance.now();
    let extra = 0;
    while (performance.now() - bStart < aWall) {
      await metrics.sample();
      extra++;
    }
    const bCpu = cpuMicros() - b0;
    perPair.push((bCpu - aCpu) / extra);
    samples += extra;
  }
  const usPerSample = median(perPair);
  // One sample a second: its CPU per second as a share of one core.
  return {
    pct: (usPerSample / 1e6) * 100,
    usPerSample,
    spreadUs: [Math.min(...perPair), Math.max(...perPair)],
    samples,
  };
}
