import fs from 'node:fs';
import v8 from 'node:v8';

/**
 * The leak-test method: after a warm-up, run an operation 1, 10 and 100 more
 * times with a sample (forced GC) after each batch; retained heap and counts of
 * live objects (open file descriptors, active handles) must not grow with the
 * count. The heap figure is the growth over the last batch divided by that
 * batch's operations (100), the ones run between the two samples compared.
 */
export interface LeakSample {
  /** Operations run in the batch that ended with this sample. */
  batchRounds: number;
  /** Operations run since the warm-up, this batch included. */
  roundsSoFar: number;
  heapUsedBytes: number;
  openFds: number;
  activeResources: number;
}

export interface LeakReport {
  samples: LeakSample[];
  /** Operations run between the two samples the heap figure compares (the last batch). */
  heapRounds: number;
  /** Retained heap growth over those `heapRounds` operations, bytes. */
  heapGrowth: number;
  /** Retained heap per operation over them: `heapGrowth / heapRounds`, bytes. */
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
  let roundsSoFar = 0;
  for (const batchRounds of [1, 10, 100]) {
    for (let i = 0; i < batchRounds; i++) await op();
    roundsSoFar += batchRounds;
    await settle();
    samples.push({
      batchRounds,
      roundsSoFar,
      heapUsedBytes: retainedHeapBytes(),
      openFds: openFdCount(),
      activeResources: process.getActiveResourcesInfo().length,
    });
  }
  const before = samples[1]!;
  const after = samples[2]!;
  const heapRounds = after.roundsSoFar - before.roundsSoFar;
  const heapGrowth = after.heapUsedBytes - before.heapUsedBytes;
  return { samples, heapRounds, heapGrowth, heapPerRound: heapGrowth / heapRounds };
}

/**
 * Asserts the report shows no growth: no descriptors or handles kept, and the
 * heap retained per round below `maxBytesPerRound` (default 1 KiB: noise from
 * GC timing is far below that, while keeping any buffer or record per call is above it).
 */
export function assertNoLeak(report: LeakReport, maxBytesPerRound = 1024): void {
  const first = report.samples[0]!;
  const last = report.samples[report.samples.length - 1]!;
  const rounds = `over ${last.roundsSoFar - first.roundsSoFar} rounds`;
  const problems: string[] = [];
  if (last.openFds > first.openFds)
    problems.push(`open fds grew ${first.openFds} -> ${last.openFds} ${rounds}`);
  if (last.activeResources > first.activeResources)
    problems.push(
      `active handles grew ${first.activeResources} -> ${last.activeResources} ${rounds}`,
    );
  if (report.heapPerRound > maxBytesPerRound)
    problems.push(
      `heap grew ${report.heapGrowth} bytes over ${report.heapRounds} rounds ` +
        `(${report.heapPerRound.toFixed(0)} B/round > ${maxBytesPerRound})`,
    );
  if (problems.length) throw new Error(`leak: ${problems.join('; ')}`);
}
