import fs from 'node:fs';
import v8 from 'node:v8';

/**
 * The leak-test method: run an operation 1, 10 and 100 times with a forced GC
 * between; retained heap and counts of live objects (open file descriptors,
 * active handles) must not grow with the count.
 */
export interface LeakSample {
  rounds: number;
  heapUsedBytes: number;
  openFds: number;
  activeResources: number;
}

export interface LeakReport {
  samples: LeakSample[];
  /** Retained heap growth from 10 to 100 rounds, bytes. */
  heapGrowth10to100: number;
  /** Retained heap per extra round between 10 and 100 rounds, bytes. */
  heapPerRound: number;
}

function forceGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('leak tests need --expose-gc (vitest.config.ts passes it)');
  // Several passes: weak callbacks and finalizers can free more on the second.
  gc();
  gc();
  gc();
}

/**
 * Retained memory: the V8 heap without its code spaces (optimising compilers
 * put new machine code there while a loop warms up, which is not memory an
 * operation keeps), plus ArrayBuffer backing stores, which live outside the
 * heap (a kept Buffer is mostly there). The smallest of three samples after
 * GC: finalizers and weak callbacks can free more on a later pass.
 */
function retainedHeapBytes(): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    forceGc();
    const used = v8
      .getHeapSpaceStatistics()
      .filter((space) => !space.space_name.startsWith('code'))
      .reduce((sum, space) => sum + space.space_used_size, 0);
    best = Math.min(best, used + process.memoryUsage().arrayBuffers);
  }
  return best;
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

async function settle(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 10));
}

export async function measureLeak(
  op: () => Promise<void> | void,
  opts: { warmupRounds?: number } = {},
): Promise<LeakReport> {
  // Warm-up: the first calls pay for lazy initialisation (JIT, module caches).
  for (let i = 0; i < (opts.warmupRounds ?? 10); i++) await op();
  const samples: LeakSample[] = [];
  for (const rounds of [1, 10, 100]) {
    for (let i = 0; i < rounds; i++) await op();
    await settle();
    samples.push({
      rounds,
      heapUsedBytes: retainedHeapBytes(),
      openFds: openFdCount(),
      activeResources: process.getActiveResourcesInfo().length,
    });
  }
  const s10 = samples[1]!;
  const s100 = samples[2]!;
  const heapGrowth10to100 = s100.heapUsedBytes - s10.heapUsedBytes;
  return { samples, heapGrowth10to100, heapPerRound: heapGrowth10to100 / 90 };
}

/**
 * Asserts the report shows no growth: no descriptors or handles kept, and the
 * heap retained per round below `maxBytesPerRound` (default 1 KiB: noise from
 * GC timing is far below that, while keeping any buffer or record per call is above it).
 */
export function assertNoLeak(report: LeakReport, maxBytesPerRound = 1024): void {
  const [s1, s10, s100] = report.samples as [LeakSample, LeakSample, LeakSample];
  const problems: string[] = [];
  if (s100.openFds > s1.openFds) problems.push(`open fds grew ${s1.openFds} -> ${s100.openFds}`);
  if (s100.activeResources > s1.activeResources)
    problems.push(`active handles grew ${s1.activeResources} -> ${s100.activeResources}`);
  if (report.heapPerRound > maxBytesPerRound)
    problems.push(
      `heap grew ${report.heapGrowth10to100} bytes from 10 to 100 rounds ` +
        `(${report.heapPerRound.toFixed(0)} B/round > ${maxBytesPerRound})`,
    );
  void s10;
  if (problems.length) throw new Error(`leak: ${problems.join('; ')}`);
}
