/**
 * record-cpu: real-time capture from the (virtual) microphone into a WAV file,
 * in this process, through the same code as `steno record`. Reports the CPU
 * the process used while recording, as a percentage of one core, from 3 s
 * after start (device warm-up excluded) to just before stop, in consecutive
 * windows of 10 s.
 *
 *   npm run bench -- record-cpu            12 windows (120 s)
 *   npm run bench -- record-cpu --quick    6 windows (60 s)
 *
 * The gate reads the median window: the first window, which still carries
 * start-up costs, and a single window that a burst disturbed do not decide it.
 * Every periodic cost of recording (reads 5/s, watchdog 2/s, sync 1/s, folder
 * check every 2 s) recurs inside each window, so each window carries all of
 * it. The mean over all windows, the lowest window, each window's split by
 * thread and how busy the rest of the machine was are reported with it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openNaudiodonCapture } from '../src/main/capture/naudiodon-capture';
import { RecordingsStore } from '../src/main/recording/recordings-store';
import { RecordingSession } from '../src/main/recording/session';
import { gc, loadAverage1m, mb, median, round } from './support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WINDOW_S = 10;
const PROGRESS_S = 5;

/**
 * Busy and total jiffies of the whole machine from /proc/stat (every CPU), or
 * null where there is no /proc. Reported per window so a figure can be read
 * against what the rest of the machine was doing.
 */
function machineJiffies(): { busy: number; total: number } | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest is inside user).
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = f[3]! + f[4]!;
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** One thread's scheduler figures from /proc/self/task/<tid>/schedstat. */
interface ThreadSample {
  name: string;
  /** Time on a CPU so far, ns. */
  runNs: number;
  /** Times it was scheduled in so far (about one per wake-up). */
  slices: number;
}

/**
 * Every thread of this process, by tid, or null where there is no /proc.
 * Capacity: one entry per thread (a few dozen).
 */
function threadSamples(): Map<string, ThreadSample> | null {
  try {
    const out = new Map<string, ThreadSample>();
    for (const tid of fs.readdirSync('/proc/self/task')) {
      try {
        const name = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
        const [runNs, , slices] = fs
          .readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8')
          .trim()
          .split(' ')
          .map(Number);
        out.set(tid, { name, runNs: runNs!, slices: slices! });
      } catch {
        continue; // the thread ended meanwhile
      }
    }
    return out;
  } catch {
    return null;
  }
}

/**
 * Where a window's CPU went, % of one core: the main (JavaScript) thread,
 * PulseAudio's client thread (`threaded-ml`, inside libpulse: its wake-up rate
 * follows the PulseAudio server, not Steno), and every other thread (PortAudio's,
 * libuv's pool, V8's). `wakeupsPerS`: scheduled-in count of all threads per second.
 */
interface ThreadSplit {
  mainPct: number;
  pulseClientPct: number;
  otherPct: number;
  wakeupsPerS: number;
}

function threadSplit(
  before: Map<string, ThreadSample>,
  after: Map<string, ThreadSample>,
  ms: number,
): ThreadSplit {
  const split = { mainPct: 0, pulseClientPct: 0, otherPct: 0, wakeupsPerS: 0 };
  for (const [tid, t] of after) {
    const t0 = before.get(tid) ?? { name: t.name, runNs: 0, slices: 0 };
    const pct = ((t.runNs - t0.runNs) / 1e6 / ms) * 100;
    split.wakeupsPerS += ((t.slices - t0.slices) / ms) * 1000;
    if (tid === String(process.pid)) split.mainPct += pct;
    else if (t.name === 'threaded-ml') split.pulseClientPct += pct;
    else split.otherPct += pct;
  }
  return split;
}

/** CPU of this process over the last `ms` of wall time, % of one core. */
function cpuPercent(cpu: NodeJS.CpuUsage, ms: number): number {
  return ((cpu.user + cpu.system) / 1000 / ms) * 100;
}

/** Medians over the windows of each part of the thread split (reported, not gated). */
function medianSplit(splits: (ThreadSplit | null)[]): Record<string, number> {
  const known = splits.filter((x): x is ThreadSplit => x !== null);
  if (known.length === 0) return {};
  const m = (f: (x: ThreadSplit) => number) => round(median(known.map(f)), 2);
  return {
    main_thread_pct: m((x) => x.mainPct),
    pulse_client_thread_pct: m((x) => x.pulseClientPct),
    other_threads_pct: m((x) => x.otherPct),
    wakeups_per_s: Math.round(median(known.map((x) => x.wakeupsPerS))),
  };
}

export default async function recordCpu(args: string[]): Promise<Record<string, unknown>> {
  const windows = args.includes('--quick') ? 6 : 12;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-cpu-'));
  const loadStart = loadAverage1m();
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
    const cpuStart = process.cpuUsage();
    const tStart = performance.now();
    // Capacity: exactly `windows` entries.
    const windowPct: number[] = [];
    // Capacity: exactly `windows` entries; the machine's busy share, all CPUs, %.
    const machineBusyPct: (number | null)[] = [];
    // Capacity: exactly `windows` entries; null where there is no /proc.
    const splits: (ThreadSplit | null)[] = [];
    for (let w = 0; w < windows; w++) {
      const cpu0 = process.cpuUsage();
      const m0 = machineJiffies();
      const th0 = threadSamples();
      const t0 = performance.now();
      for (let s = 0; s < WINDOW_S; s += PROGRESS_S) await sleep(PROGRESS_S * 1000);
      const windowMs = performance.now() - t0;
      const pct = cpuPercent(process.cpuUsage(cpu0), windowMs);
      const m1 = machineJiffies();
      const th1 = threadSamples();
      const split = th0 && th1 ? threadSplit(th0, th1, windowMs) : null;
      splits.push(split);
      const busy = m0 && m1 ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : null;
      windowPct.push(pct);
      machineBusyPct.push(busy === null ? null : round(busy, 1));
      process.stderr.write(
        `record-cpu: window ${w + 1}/${windows} (${WINDOW_S} s): ${pct.toFixed(2)}% of a core` +
          (split
            ? ` (main ${split.mainPct.toFixed(2)}, PulseAudio client ${split.pulseClientPct.toFixed(2)}, ` +
              `other ${split.otherPct.toFixed(2)}; ${split.wakeupsPerS.toFixed(0)} wake-ups/s)`
            : '') +
          (busy === null
            ? '\n'
            : `, machine ${busy.toFixed(0)}% busy (${os.cpus().length} CPUs)\n`),
      );
    }
    const cpu = process.cpuUsage(cpuStart);
    const wallMs = performance.now() - tStart;
    const rssEnd = process.memoryUsage().rss;
    const meta = await session.stop();
    const stats = session.stats;
    session.dispose();
    const medianPct = median(windowPct);
    const result = {
      seconds: windows * WINDOW_S,
      window_s: WINDOW_S,
      cpu_pct_of_core: round(medianPct, 2),
      cpu_pct_mean: round(cpuPercent(cpu, wallMs), 2),
      cpu_pct_min_window: round(Math.min(...windowPct), 2),
      cpu_pct_windows: windowPct.map((p) => round(p, 2)),
      machine_busy_pct_windows: machineBusyPct,
      ...medianSplit(splits),
      cpu_user_ms: Math.round(cpu.user / 1000),
      cpu_system_ms: Math.round(cpu.system / 1000),
      rss_mb_start: mb(rssStart),
      rss_mb_end: mb(rssEnd),
      duration_s: meta.durationS,
      frames_dropped: stats.droppedFrames,
      sample_rate: stats.sampleRate,
      device: capture.deviceName,
      loadavg_1m: [loadStart, loadAverage1m()],
      bound: { cpu_pct_of_core_max: 2 },
    };
    return {
      ...result,
      pass: medianPct <= 2 && stats.droppedFrames === 0 && meta.state === 'complete',
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
