/** Small helpers shared by benchmarks. */
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import type { FileSystemLayer } from '../src/main/fs-layer';
import { descendants, rssOf, treeRss } from '../src/testing/process-tree';

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with --expose-gc (npm run bench does)');
  g();
  g();
}

export function mb(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// Process-tree readings live with the test scaffolding, which uses them too.
export { descendants, rssOf, treeRss };

/** One round of an interleaved comparison: both sides' values and `a / b`. */
export interface InterleavedRound {
  a: number;
  b: number;
  ratio: number;
  aFirst: boolean;
}

/**
 * Measures `a` and `b` (each returns one figure, e.g. a time in ms) in `rounds`
 * rounds, one of each per round, swapping which goes first every round, and
 * returns every round plus the median of the per-round ratios a / b. A change
 * in the machine's load between rounds hits both sides of a round alike, so it
 * moves a round's ratio far less than it moves either side; the median then
 * ignores the few rounds that a burst of load did split. `warmup` rounds run
 * first and are not counted (JIT, page cache, disk allocation).
 */
export async function interleavedRatio(
  rounds: number,
  a: () => Promise<number>,
  b: () => Promise<number>,
  options: { warmup?: number; onRound?: (round: number, r: InterleavedRound) => void } = {},
): Promise<{ rounds: InterleavedRound[]; medianRatio: number }> {
  const warmup = options.warmup ?? 1;
  // Capacity: exactly `rounds` entries, one per counted round.
  const result: InterleavedRound[] = [];
  for (let i = -warmup; i < rounds; i++) {
    const aFirst = (i & 1) === 0;
    let av: number;
    let bv: number;
    if (aFirst) {
      av = await a();
      bv = await b();
    } else {
      bv = await b();
      av = await a();
    }
    const r = { a: av, b: bv, ratio: av / bv, aFirst };
    options.onRound?.(i, r);
    if (i >= 0) result.push(r);
  }
  return { rounds: result, medianRatio: median(result.map((r) => r.ratio)) };
}

/** The 1-minute load average, rounded, for the record of a run. */
export function loadAverage1m(): number {
  return round(os.loadavg()[0]!, 2);
}

/**
 * The clock tick (USER_HZ) in which /proc reports CPU times: `getconf
 * CLK_TCK`, else 100, which Linux uses on every common architecture.
 */
export function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // no getconf: the kernel's fixed user-visible tick
  }
  return 100;
}

/** CPU time a process tree has used so far, from /proc, in clock ticks (clockTicksPerSecond). */
export interface TreeCpuTicks {
  ticks: number;
  /** Processes counted: `pid` and its descendants alive at the reading. */
  processes: number;
}

/** utime + stime + cutime + cstime of one process, ticks, or null when it is gone. */
function processTicks(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name (which may hold spaces and parentheses) start
  // at field 3 (state); utime, stime, cutime, cstime are fields 14-17.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

/**
 * CPU time of `pid` and every descendant, for a difference of two readings.
 * /proc/<pid>/stat sums all threads of a process, ended threads included, so
 * no thread is missed; each process's cutime + cstime holds its children that
 * ended and were waited for, so a descendant that ends between two readings
 * still counts (its time moves from its own entry to its parent's). Throws
 * when `pid` itself is gone: a window whose process ended is no measurement.
 */
export function cpuTicksOfTree(pid: number): TreeCpuTicks {
  const own = processTicks(pid);
  if (own === null) throw new Error(`process ${pid} is gone; its CPU time cannot be read`);
  let ticks = own;
  let processes = 1;
  for (const p of descendants(pid)) {
    const t = processTicks(p);
    if (t === null) continue; // ended meanwhile: its parent's cutime holds it from now on
    ticks += t;
    processes++;
  }
  return { ticks, processes };
}

/** One living thread's scheduler figures from /proc/<pid>/task/<tid>/schedstat. */
export interface ThreadCpu {
  pid: number;
  tid: number;
  /** The thread's name (comm), e.g. `threaded-ml` for PulseAudio's client thread. */
  name: string;
  /** Time on a CPU so far, ns. */
  runNs: number;
  /** Times it was scheduled in so far (about one per wake-up). */
  slices: number;
}

/**
 * Every living thread of `pid` and of its descendants, keyed `pid/tid`: CPU
 * time in ns, where /proc/<pid>/stat has only clock ticks. Threads that have
 * ended are not in it (unlike cpuTicksOfTree), so a difference of two readings
 * holds only for threads present in both. Capacity: one entry per thread.
 */
export function threadCpuOfTree(pid: number): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  for (const p of [pid, ...descendants(pid)]) {
    let tids: string[];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // ended meanwhile
    }
    for (const tid of tids) {
      try {
        const name = fs.readFileSync(`/proc/${p}/task/${tid}/comm`, 'utf8').trim();
        const [runNs, , slices] = fs
          .readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8')
          .trim()
          .split(' ')
          .map(Number);
        out.set(`${p}/${tid}`, { pid: p, tid: Number(tid), name, runNs: runNs!, slices: slices! });
      } catch {
        continue; // the thread ended meanwhile
      }
    }
  }
  return out;
}

/** One round of an interleaved comparison of several sides: each side's value, in the sides' order. */
export interface SidesRound {
  values: number[];
  /** The order the sides ran in this round (indexes into the sides). */
  order: number[];
}

/** Every ordering of 0..n-1, in lexicographic order. */
function orderings(n: number): number[][] {
  if (n <= 1) return [[...Array(n).keys()]];
  // Capacity: n! orderings; callers pass a handful of sides.
  const out: number[][] = [];
  for (const rest of orderings(n - 1)) {
    for (let at = 0; at <= rest.length; at++) {
      out.push([...rest.slice(0, at), n - 1, ...rest.slice(at)]);
    }
  }
  return out.sort((x, y) => x.join().localeCompare(y.join()));
}

/**
 * The same as interleavedRatio for more than two sides: every round measures
 * each side once, and the rounds cycle through every order of the sides, so
 * over n! rounds each side runs before and after each other one equally often
 * and a drift in the machine's load favours none of them.
 */
export async function interleavedSides(
  rounds: number,
  sides: Array<() => Promise<number>>,
  options: { warmup?: number; onRound?: (round: number, r: SidesRound) => void } = {},
): Promise<SidesRound[]> {
  const warmup = options.warmup ?? 1;
  const orders = orderings(sides.length);
  // Capacity: exactly `rounds` entries, one per counted round.
  const result: SidesRound[] = [];
  for (let i = -warmup; i < rounds; i++) {
    const order = orders[((i % orders.length) + orders.length) % orders.length]!;
    const values = new Array<number>(sides.length).fill(NaN);
    for (const s of order) values[s] = await sides[s]!();
    const r = { values, order };
    options.onRound?.(i, r);
    if (i >= 0) result.push(r);
  }
  return result;
}

/**
 * A file-system layer that passes every call to `inner` and counts the
 * fdatasyncs, so a benchmark can say how many syncs a writer's timer ran.
 */
export function countingFdatasync(inner: FileSystemLayer): {
  fs: FileSystemLayer;
  fdatasyncs: () => number;
} {
  let n = 0;
  return {
    fs: {
      ...inner,
      fdatasync: (fd) => {
        n++;
        return inner.fdatasync(fd);
      },
    },
    fdatasyncs: () => n,
  };
}

/**
 * When a process started, in clock ticks since boot (/proc/<pid>/stat field
 * 22), or null when it is gone: with the pid it names one process, so a pid
 * the kernel reused later is not mistaken for it.
 */
export function startTicksOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses) start at state, field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[22 - 3]);
  } catch {
    return null;
  }
}

/** Least-squares slope of ys against xs, in units of y per unit of x (one copy, in src/testing). */
export { slopePerX } from '../src/testing/least-squares';
