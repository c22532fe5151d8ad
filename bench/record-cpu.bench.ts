/**
 * record-cpu: real-time capture from the (virtual) microphone into a WAV file,
 * in this process, through the same code as `steno record`. Reports the CPU
 * the process used while recording, as a percentage of one core, measured
 * from 3 s after start (device warm-up excluded) to just before stop.
 *
 *   npm run bench -- record-cpu            60 s
 *   npm run bench -- record-cpu --quick    15 s
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openNaudiodonCapture } from '../src/main/capture/naudiodon-capture';
import { RecordingsStore } from '../src/main/recording/recordings-store';
import { RecordingSession } from '../src/main/recording/session';
import { gc, mb } from './support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export default async function recordCpu(args: string[]): Promise<Record<string, unknown>> {
  const seconds = args.includes('--quick') ? 15 : 60;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-cpu-'));
  try {
    const store = new RecordingsStore(dir);
    const capture = openNaudiodonCapture();
    const session = await RecordingSession.start({ store, capture });
    // Steady state: device start-up and the first JIT compilation of the
    // capture path are excluded.
    await sleep(3000);
    // The garbage of starting this process (module compilation, fixtures)
    // is collected now, so that V8's memory reducer does not collect it
    // inside the window: what is measured is recording's own cost,
    // including the collection of its own garbage.
    gc();
    const rssStart = process.memoryUsage().rss;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let s = 0; s < seconds; s += 5) {
      await sleep(Math.min(5, seconds - s) * 1000);
      process.stderr.write(`record-cpu: ${Math.min(seconds, s + 5)} / ${seconds} s\n`);
    }
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - t0;
    const rssEnd = process.memoryUsage().rss;
    const meta = await session.stop();
    const stats = session.stats;
    session.dispose();
    const cpuPct = ((cpu.user + cpu.system) / 1000 / wallMs) * 100;
    const result = {
      seconds,
      cpu_pct_of_core: Math.round(cpuPct * 100) / 100,
      cpu_user_ms: Math.round(cpu.user / 1000),
      cpu_system_ms: Math.round(cpu.system / 1000),
      rss_mb_start: mb(rssStart),
      rss_mb_end: mb(rssEnd),
      duration_s: meta.durationS,
      frames_dropped: stats.droppedFrames,
      sample_rate: stats.sampleRate,
      device: capture.deviceName,
    };
    return {
      ...result,
      pass: cpuPct <= 2 && stats.droppedFrames === 0 && meta.state === 'complete',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
