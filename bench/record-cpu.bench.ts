/**
 * record-cpu: the CPU of the real `steno record --no-transcript --json`
 * process (the CLI as a person runs it, tsx, its event output and all),
 * measured from outside through /proc, against `arecord` recording the same
 * device at the same format to a WAV file, measured the same way in the same
 * run.
 *
 *   npm run bench -- record-cpu            5 pairs of 30 s windows
 *   npm run bench -- record-cpu --quick    3 pairs of 10 s windows
 *
 * Each run is one process started fresh; its window opens SETTLE_S after its
 * audio started flowing and spans `window_s` of wall time. The settling time
 * leaves out what a process pays once: start-up, the device's warm-up, and
 * the first tens of seconds in which V8 compiles and tiers up the capture
 * path and its worker threads collect the start-up garbage (measured on the
 * build machine: Steno 1.5-2% of a core in its first 35 s, then a steady
 * 0.75-0.9%; arecord is steady from its start). A meeting is hours of the
 * steady state, which is what the window measures. CPU is
 * utime + stime of the process (every thread) and of any descendants, in
 * /proc's clock ticks, over the wall time of the same window; each thread's
 * schedstat (ns) is reported beside it, since at arecord's level (about 3 ms
 * a second) one tick is a large part of a window, and it splits the time by
 * thread. Runs alternate Steno, arecord, Steno, arecord... and who goes
 * first swaps every pair, so a drift in the machine's load hits both alike.
 *
 * After each Steno run, bench/naudiodon-floor.mjs is measured the same way:
 * plain Node moving the same device's audio through the same addon into a
 * file and nothing else (`floor_*`, reported, not gated): the part of
 * Steno's figure that any Node recorder on this binding pays here.
 *
 * The gate is `ratio_to_arecord` (Steno's median / arecord's median) <= 1.5
 * and no frame dropped: an absolute share of a core does not carry from one
 * machine to another (bench/README.md, record-cpu), the ratio to the
 * plainest recorder of the same device does.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWavHeader } from '../src/core/wav-format';
import { requireVirtualMic } from '../e2e/support/virtual-mic';
import { StenoProcess } from '../e2e/support/steno-cli';
import {
  clockTicksPerSecond,
  cpuTicksOfTree,
  threadCpuOfTree,
  type ThreadCpu,
  interleavedRatio,
  loadAverage1m,
  median,
  round,
} from './support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What Steno records by default (naudiodon-capture: 48 kHz preferred, mono first, 16-bit). */
const SAMPLE_RATE = 48_000;
const CHANNELS = 1;
const BYTES_PER_SECOND = SAMPLE_RATE * CHANNELS * 2;
/** From audio flowing to the window's start. */
const SETTLE_S = 40;
const RATIO_MAX = 1.5;
/** How long Steno may take to start recording (tsx compiles the sources on a cold cache). */
const START_TIMEOUT_MS = 60_000;
/** How long a process may take to finish after SIGINT. */
const STOP_TIMEOUT_MS = 30_000;

/** Busy and total jiffies of the whole machine (every CPU) from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest is inside user).
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** One window of one process tree. */
interface WindowCpu {
  /** From utime + stime (clock ticks): every thread, ended ones included. */
  cpuPct: number;
  ticks: number;
  /** From the threads' schedstat (ns): living threads only; see `threadsEnded`. */
  cpuPctNs: number;
  /** Threads present at the window's start and gone at its end (their time is missing from cpuPctNs). */
  threadsEnded: number;
  split: ThreadSplit;
  wallS: number;
  /** Processes in the tree at the window's end. */
  processes: number;
  /** How busy the whole machine was meanwhile, % of all CPUs. */
  machineBusyPct: number;
}

/**
 * Where a window's CPU went (from schedstat), % of one core: the main thread
 * of the measured process, PulseAudio's client thread (`threaded-ml`, inside
 * libpulse, in Steno through PortAudio and in arecord through ALSA's pulse
 * plugin), and every other thread; wake-ups: times scheduled in, per second.
 */
interface ThreadSplit {
  mainPct: number;
  pulseClientPct: number;
  otherPct: number;
  wakeupsPerS: number;
}

/** A reading of the tree, timed at the middle of its /proc walk. */
function readTree(pid: number): {
  ticks: number;
  processes: number;
  threads: Map<string, ThreadCpu>;
  atMs: number;
} {
  const t0 = performance.now();
  const { ticks, processes } = cpuTicksOfTree(pid);
  const threads = threadCpuOfTree(pid);
  return { ticks, processes, threads, atMs: (t0 + performance.now()) / 2 };
}

async function measureWindow(pid: number, seconds: number, clkTck: number): Promise<WindowCpu> {
  const m0 = machineJiffies();
  const a = readTree(pid);
  await sleep(seconds * 1000);
  const b = readTree(pid);
  const m1 = machineJiffies();
  const ticks = b.ticks - a.ticks;
  const wallS = (b.atMs - a.atMs) / 1000;
  const pct = (ns: number) => (ns / 1e9 / wallS) * 100;
  const split: ThreadSplit = { mainPct: 0, pulseClientPct: 0, otherPct: 0, wakeupsPerS: 0 };
  let runNs = 0;
  for (const [key, t] of b.threads) {
    const t0 = a.threads.get(key) ?? { runNs: 0, slices: 0 }; // started inside the window
    const ns = t.runNs - t0.runNs;
    runNs += ns;
    split.wakeupsPerS += (t.slices - t0.slices) / wallS;
    if (t.tid === pid) split.mainPct += pct(ns);
    else if (t.name === 'threaded-ml') split.pulseClientPct += pct(ns);
    else split.otherPct += pct(ns);
  }
  return {
    cpuPct: (ticks / clkTck / wallS) * 100,
    ticks,
    cpuPctNs: pct(runNs),
    threadsEnded: [...a.threads.keys()].filter((k) => !b.threads.has(k)).length,
    split,
    wallS,
    processes: b.processes,
    machineBusyPct: ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100,
  };
}

/** Resolves with `p`, or rejects after `ms` with `what`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what)), ms))),
  ]).finally(() => clearTimeout(timer));
}

interface StenoRun extends WindowCpu {
  framesDropped: number;
  state: string;
  durationS: number;
}

/**
 * One `steno record --no-transcript --json` from start to Ctrl-C (SIGINT),
 * with its own data folder (STENO_HOME: default settings, its native log) and
 * recordings folder under `dir`, both removed afterwards.
 */
async function runSteno(dir: string, n: number, windowS: number, clkTck: number) {
  const home = path.join(dir, `steno-${n}`);
  const p = new StenoProcess(
    ['record', '--no-transcript', '--json', '--out', path.join(home, 'recordings')],
    // A person's shell has no NODE_OPTIONS of the benchmark's.
    { STENO_HOME: home, NODE_OPTIONS: undefined },
  );
  try {
    const exitedEarly = p.exited.then(({ code, signal }): never => {
      throw new Error(
        `steno record exited (code ${code}, signal ${signal}) before recording; stderr tail:\n${p.stderr.slice(-2000)}`,
      );
    });
    // It settles, later, when the process ends after the window: that is no failure.
    exitedEarly.catch(() => {});
    const started = await Promise.race([
      p.waitFor(
        (e) =>
          e.type === 'recording.state' &&
          (e.recording as { state?: string } | undefined)?.state === 'recording',
        START_TIMEOUT_MS,
      ),
      exitedEarly,
    ]);
    const recording = started.recording as { sampleRate: number; device: string };
    if (recording.sampleRate !== SAMPLE_RATE) {
      throw new Error(
        `steno recorded at ${recording.sampleRate} Hz, not ${SAMPLE_RATE}: arecord would not record the same`,
      );
    }
    await sleep(SETTLE_S * 1000);
    const w = await measureWindow(p.child.pid!, windowS, clkTck);
    p.child.kill('SIGINT');
    await within(p.exited, STOP_TIMEOUT_MS, 'steno record did not finish within 30 s of Ctrl-C');
    const end = p.ended();
    if (!end)
      throw new Error(`steno record reported no end; stderr tail:\n${p.stderr.slice(-2000)}`);
    const finished = p.last('recording.finished');
    const channels = (finished?.recording as { channels?: number } | undefined)?.channels;
    if (finished && channels !== CHANNELS) {
      throw new Error(`steno recorded ${channels} channels, not ${CHANNELS}`);
    }
    const run: StenoRun = {
      ...w,
      framesDropped: end.droppedFrames,
      state: end.state,
      durationS: end.durationS,
    };
    return { run, device: recording.device };
  } finally {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    fs.rmSync(home, { recursive: true, force: true });
  }
}

/**
 * For a recorder spawned as `child`: waits until `flowing()` says its audio
 * flows (or fails with `notRecording()` when it exits or takes too long),
 * settles, measures one window, then stops it with SIGINT as a person would
 * and returns the window with its exit code.
 */
async function measureRecorder(
  child: ChildProcess,
  exited: Promise<number | null>,
  flowing: () => boolean,
  notRecording: () => Error,
  what: string,
  windowS: number,
  clkTck: number,
): Promise<{ window: WindowCpu; code: number | null }> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (!flowing()) {
    if (child.exitCode !== null || performance.now() > deadline) throw notRecording();
    await sleep(20);
  }
  await sleep(SETTLE_S * 1000);
  const window = await measureWindow(child.pid!, windowS, clkTck);
  child.kill('SIGINT');
  const code = await within(exited, STOP_TIMEOUT_MS, `${what} did not stop within 30 s of SIGINT`);
  return { window, code };
}

interface ArecordRun extends WindowCpu {
  overruns: number;
  durationS: number;
}

/** Fails with one sentence on what to install when arecord is missing. */
function requireArecord(): void {
  const r = spawnSync('arecord', ['--version'], { encoding: 'utf8' });
  if (r.error) {
    throw new Error(
      'arecord is not installed; install alsa-utils (apt-get install alsa-utils) to run record-cpu.',
    );
  }
}

/**
 * One `arecord` of ALSA's `default` device (PulseAudio's default source, the
 * one Steno's default device reaches too) at Steno's format to a WAV file,
 * with its ordinary output, stopped with SIGINT as a person would.
 */
async function runArecord(dir: string, n: number, windowS: number, clkTck: number) {
  const file = path.join(dir, `arecord-${n}.wav`);
  const child = spawn(
    'arecord',
    [
      '-D',
      'default',
      '-f',
      'S16_LE',
      '-r',
      `${SAMPLE_RATE}`,
      '-c',
      `${CHANNELS}`,
      '-t',
      'wav',
      file,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // Audio flows once the file grows past its header; arecord exits 1 when
    // a signal stopped it, and its file is then complete.
    const { window: w, code } = await measureRecorder(
      child,
      exited,
      () => fs.existsSync(file) && fs.statSync(file).size > 44,
      () =>
        new Error(
          `arecord could not record from ALSA's "default" device (${stderr.trim() || 'no output'}); ` +
            "install libasound2-plugins so that ALSA's default is PulseAudio.",
        ),
      'arecord',
      windowS,
      clkTck,
    );
    if (code !== 0 && code !== 1) throw new Error(`arecord exited with ${code}: ${stderr.trim()}`);
    const fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4096);
    const got = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const header = parseWavHeader(head.subarray(0, got));
    const { format } = header;
    if (format.sampleRate !== SAMPLE_RATE || format.channels !== CHANNELS) {
      throw new Error(
        `arecord wrote ${format.sampleRate} Hz, ${format.channels} channels instead of Steno's format`,
      );
    }
    const run: ArecordRun = {
      ...w,
      overruns: (stderr.match(/overrun/g) ?? []).length,
      durationS: header.dataBytes / BYTES_PER_SECOND,
    };
    return run;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(file, { force: true });
  }
}

interface FloorRun extends WindowCpu {
  durationS: number;
}

/**
 * One run of bench/naudiodon-floor.mjs: plain Node reading the same device
 * through the same addon with Steno's buffer sizes into a raw file, nothing
 * else. Reported beside the two gated sides, not gated: it says how much of
 * Steno's figure any Node recorder on this binding pays on this machine.
 */
async function runFloor(dir: string, n: number, windowS: number, clkTck: number) {
  const file = path.join(dir, `floor-${n}.raw`);
  const script = fileURLToPath(new URL('./naudiodon-floor.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const { window: w, code } = await measureRecorder(
      child,
      exited,
      () => stdout.includes('flowing'),
      () =>
        new Error(
          `the naudiodon floor did not record: ${stderr.trim().slice(-500) || 'no output'}`,
        ),
      'the floor',
      windowS,
      clkTck,
    );
    const bytes = Number(/bytes (\d+)/.exec(stdout)?.[1]);
    if (code !== 0 || !(bytes > 0)) {
      throw new Error(`the floor ended with ${code}, ${bytes} bytes: ${stderr.trim().slice(-500)}`);
    }
    const run: FloorRun = { ...w, durationS: bytes / BYTES_PER_SECOND };
    return run;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(file, { force: true });
  }
}

/** Medians over the runs of each part of the thread split (reported, not gated). */
function medianSplit(runs: WindowCpu[]): Record<string, number> {
  const m = (f: (x: ThreadSplit) => number) => round(median(runs.map((r) => f(r.split))), 3);
  return {
    main_thread_pct: m((x) => x.mainPct),
    pulse_client_thread_pct: m((x) => x.pulseClientPct),
    other_threads_pct: m((x) => x.otherPct),
    wakeups_per_s: Math.round(median(runs.map((r) => r.split.wakeupsPerS))),
  };
}

/** PulseAudio's default source, which ALSA's `default` reads. */
function pulseDefaultSource(): string {
  const info = execFileSync('pactl', ['info'], { encoding: 'utf8' });
  return /^Default Source: (.*)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
}

export default async function recordCpu(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const runs = quick ? 3 : 5;
  const windowS = quick ? 10 : 30;
  requireVirtualMic();
  requireArecord();
  const clkTck = clockTicksPerSecond();
  const source = pulseDefaultSource();
  const loadStart = loadAverage1m();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-cpu-'));
  // Capacity: exactly `runs` entries each, one per pair, in the order run.
  const stenoRuns: StenoRun[] = [];
  const arecordRuns: ArecordRun[] = [];
  const floorRuns: FloorRun[] = [];
  let device = 'unknown';
  try {
    const { rounds } = await interleavedRatio(
      runs,
      async () => {
        const r = await runSteno(dir, stenoRuns.length, windowS, clkTck);
        device = r.device;
        stenoRuns.push(r.run);
        // The floor follows each Steno run, so it sees the same minutes.
        floorRuns.push(await runFloor(dir, floorRuns.length, windowS, clkTck));
        return r.run.cpuPct;
      },
      async () => {
        const r = await runArecord(dir, arecordRuns.length, windowS, clkTck);
        arecordRuns.push(r);
        return r.cpuPct;
      },
      {
        warmup: 0,
        onRound: (i, r) =>
          process.stderr.write(
            `record-cpu: pair ${i + 1}/${runs} (${r.aFirst ? 'steno' : 'arecord'} first, ${windowS} s each): ` +
              `steno ${r.a.toFixed(2)}%, arecord ${r.b.toFixed(2)}% of a core, ratio ${r.ratio.toFixed(2)} ` +
              `(floor ${floorRuns.at(-1)!.cpuPct.toFixed(2)}%); ` +
              `machine ${stenoRuns.at(-1)!.machineBusyPct.toFixed(0)}% / ${arecordRuns.at(-1)!.machineBusyPct.toFixed(0)}% busy\n`,
          ),
      },
    );
    const stenoPct = median(stenoRuns.map((r) => r.cpuPct));
    const arecordPct = median(arecordRuns.map((r) => r.cpuPct));
    const ratio = stenoPct / arecordPct;
    const pairRatios = rounds.map((r) => r.ratio);
    const framesDropped = stenoRuns.reduce((s, r) => s + r.framesDropped, 0);
    const complete = stenoRuns.filter((r) => r.state === 'complete').length;
    // Each recording must cover its window: a process that stopped delivering
    // audio would measure as cheap.
    const minCoveredS = windowS + SETTLE_S / 2;
    const covered =
      stenoRuns.every((r) => r.durationS >= minCoveredS) &&
      arecordRuns.every((r) => r.durationS >= minCoveredS) &&
      floorRuns.every((r) => r.durationS >= minCoveredS);
    const floorPct = median(floorRuns.map((r) => r.cpuPct));
    const r2 = (xs: number[]) => xs.map((x) => round(x, 2));
    const r3 = (xs: number[]) => xs.map((x) => round(x, 3));
    const stenoNsPct = median(stenoRuns.map((r) => r.cpuPctNs));
    const arecordNsPct = median(arecordRuns.map((r) => r.cpuPctNs));
    return {
      runs,
      window_s: windowS,
      settle_s: SETTLE_S,
      clk_tck: clkTck,
      one_tick_pct: round(100 / clkTck / windowS, 3),
      steno_cpu_pct: round(stenoPct, 2),
      arecord_cpu_pct: round(arecordPct, 2),
      ratio_to_arecord: round(ratio, 3),
      steno_cpu_pct_runs: r2(stenoRuns.map((r) => r.cpuPct)),
      arecord_cpu_pct_runs: r2(arecordRuns.map((r) => r.cpuPct)),
      steno_ticks_runs: stenoRuns.map((r) => r.ticks),
      arecord_ticks_runs: arecordRuns.map((r) => r.ticks),
      floor_cpu_pct: round(floorPct, 2),
      floor_ratio_to_arecord: round(floorPct / arecordPct, 3),
      floor_cpu_pct_runs: r2(floorRuns.map((r) => r.cpuPct)),
      floor_cpu_pct_ns: round(median(floorRuns.map((r) => r.cpuPctNs)), 3),
      steno_cpu_pct_ns: round(stenoNsPct, 3),
      arecord_cpu_pct_ns: round(arecordNsPct, 3),
      ratio_to_arecord_ns: round(stenoNsPct / arecordNsPct, 3),
      steno_cpu_pct_ns_runs: r3(stenoRuns.map((r) => r.cpuPctNs)),
      arecord_cpu_pct_ns_runs: r3(arecordRuns.map((r) => r.cpuPctNs)),
      threads_ended_in_windows: [...stenoRuns, ...arecordRuns].reduce(
        (s, r) => s + r.threadsEnded,
        0,
      ),
      steno_split: medianSplit(stenoRuns),
      arecord_split: medianSplit(arecordRuns),
      floor_split: medianSplit(floorRuns),
      steno_first_runs: rounds.map((r) => r.aFirst),
      pair_ratios: r2(pairRatios),
      pair_ratio_median: round(median(pairRatios), 3),
      pair_ratio_min: round(Math.min(...pairRatios), 3),
      pair_ratio_max: round(Math.max(...pairRatios), 3),
      frames_dropped: framesDropped,
      steno_complete_runs: complete,
      steno_duration_s_runs: r2(stenoRuns.map((r) => r.durationS)),
      arecord_duration_s_runs: r2(arecordRuns.map((r) => r.durationS)),
      arecord_overruns: arecordRuns.reduce((s, r) => s + r.overruns, 0),
      steno_processes: Math.max(...stenoRuns.map((r) => r.processes)),
      machine_busy_pct_steno_runs: stenoRuns.map((r) => Math.round(r.machineBusyPct)),
      machine_busy_pct_arecord_runs: arecordRuns.map((r) => Math.round(r.machineBusyPct)),
      device,
      pulse_default_source: source,
      format: `${SAMPLE_RATE} Hz, ${CHANNELS === 1 ? 'mono' : `${CHANNELS} channels`}, s16`,
      loadavg_1m: [loadStart, loadAverage1m()],
      bound: { ratio_to_arecord_max: RATIO_MAX, frames_dropped: 0 },
      pass:
        ratio <= RATIO_MAX && framesDropped === 0 && complete === runs && covered && arecordPct > 0,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
