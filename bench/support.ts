/** Small helpers shared by benchmarks. */
import fs from 'node:fs';
import os from 'node:os';

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

/** RSS of a process from /proc, bytes (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Pids of all descendants of `pid`, read from /proc directly (running `ps`
 * would itself be a descendant).
 */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The command name may contain spaces and parentheses: ppid follows the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(entry));
  }
  const result: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    result.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return result;
}

/** RSS of a process and all its descendants, bytes. */
export function treeRss(pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + rssOf(p), 0);
}

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
