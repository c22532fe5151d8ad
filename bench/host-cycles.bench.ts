/**
 * host-cycles: N x (start a recording, load all models in a model host,
 * transcribe 30 s of speech, stop). After each stop the host must be gone and
 * the memory of the whole process tree back where it was: the host's exit is
 * the models' unload. Uses the tiny-shaped Whisper model (78 MB, what the real
 * tiny.en costs to hold) and the generated speaker-embedding model.
 *
 * The first WARMUP_CYCLES cycles are warm-up: they are measured and reported
 * like the others (`cycle_phase` marks them) but the bounds read only the
 * cycles after them. Main's RSS must not trend upwards: the least-squares
 * slope over the measured cycles is bounded, not a difference of two samples.
 *
 *   npm run bench -- host-cycles            3 warm-up + 20 measured cycles
 *   npm run bench -- host-cycles --quick    3 warm-up + 5 measured cycles
 */
import { ensureWhisperModel } from '../src/testing/ggml-whisper-model';
import { ensureSpeakerEmbeddingModel } from '../src/testing/speaker-model';
import { ensureSyntheticMeeting } from '../src/testing/synthetic-meeting';
import fs from 'node:fs';
import { descendants, gc, mb, round, rssOf, slopePerX, startTicksOf } from './support';
import { pumpFast, startLiveRun } from './support-live';

const SPEECH_SECONDS = 30;
/**
 * Cycles 1-2 of the earlier runs still held about 28 MB left from generating
 * and reading the fixtures in this process, which the allocator gave back
 * during cycle 3; the first cycle also loads main's own lazily imported code.
 */
const WARMUP_CYCLES = 3;
const MAX_MAIN_SLOPE_MB_PER_CYCLE = 0.2;
const MAX_TREE_GROWTH_BYTES = 10 * 1024 * 1024;
/** How often the process tree is looked at during a cycle, for descendants that outlive it. */
const TREE_WATCH_MS = 500;
/**
 * The audio is pumped only once the recording has started, i.e. once the
 * host is ready: on a busy machine that takes longer than the session's
 * 2 s no-data watchdog, which then ended the recording before any audio (a
 * cycle of 0 segments). Here the watchdog waits longer than any host start.
 */
const MANUAL_WATCHDOG_MS = 10 * 60_000;

export default async function hostCycles(args: string[]): Promise<Record<string, unknown>> {
  const measuredCycles = args.includes('--quick') ? 5 : 20;
  const cycles = WARMUP_CYCLES + measuredCycles;
  const meeting = await ensureSyntheticMeeting();
  const models = {
    whisper: await ensureWhisperModel('tiny'),
    embedding: await ensureSpeakerEmbeddingModel(),
  };
  // Read once: re-reading 4.4 MB per cycle would make main's RSS swing with
  // the allocator, not with Steno.
  const wav = fs.readFileSync(meeting.wav48k);
  // Processes that are not Steno's (tsx's esbuild service) are there before.
  const baseline = new Set(descendants(process.pid));
  const ours = () => descendants(process.pid).filter((p) => !baseline.has(p));
  // "Tree" is main plus any model host: tsx's esbuild service (a Go process
  // that returns memory to the OS on its own schedule, and absent from the
  // built app) is not Steno's.
  const treeRss = () => [process.pid, ...ours()].reduce((sum, p) => sum + rssOf(p), 0);
  // Every descendant seen while a cycle ran, by pid and start time: one that
  // outlives its parent is re-parented out of this tree, so a walk of the tree
  // at the end alone would not see it. Capacity: one entry per process the
  // cycles start (one host each, plus any it starts).
  const seen = new Map<number, number>();
  const watchTree = () => {
    for (const pid of ours()) {
      const ticks = startTicksOf(pid);
      if (ticks !== null) seen.set(pid, ticks);
    }
  };
  // Capacity of the per-cycle arrays: exactly `cycles` entries.
  const mainRss: number[] = [];
  const treeBefore: number[] = [];
  const treeAfter: number[] = [];
  const segments: number[] = [];
  const settle = async () => {
    gc();
    await new Promise((r) => setTimeout(r, 1000));
    gc();
  };
  for (let i = 0; i < cycles; i++) {
    await settle();
    treeBefore.push(treeRss());
    const watcher = setInterval(watchTree, TREE_WATCH_MS);
    try {
      const run = await startLiveRun(wav, models, {
        pacing: 'manual',
        options: { maxTokens: 16 },
        session: { watchdogMs: MANUAL_WATCHDOG_MS },
      });
      try {
        watchTree();
        await pumpFast(run, SPEECH_SECONDS);
        watchTree();
        const transcript = await run.finish();
        segments.push(transcript.segments.length);
      } finally {
        run.dispose();
      }
    } finally {
      clearInterval(watcher);
    }
    await settle();
    treeAfter.push(treeRss());
    mainRss.push(process.memoryUsage().rss);
    process.stderr.write(
      `host-cycles: ${i + 1}/${cycles}${i < WARMUP_CYCLES ? ' (warm-up)' : ''}: ${segments[i]} segments, tree ${mb(treeBefore[i]!)} -> ${mb(treeAfter[i]!)} MB\n`,
    );
  }
  const leftInTree = ours();
  const inTree = new Set(leftInTree);
  const leftOutsideTree = [...seen].filter(
    ([pid, ticks]) => !inTree.has(pid) && startTicksOf(pid) === ticks,
  ).length;
  const descendantsLeft = leftInTree.length + leftOutsideTree;

  const measured = (xs: number[]) => xs.slice(WARMUP_CYCLES);
  const cycleNumbers = measured(mainRss.map((_, i) => i + 1));
  const mainSlope = slopePerX(
    cycleNumbers,
    measured(mainRss).map((b) => b / 1024 / 1024),
  );
  const deltas = treeAfter.map((a, i) => a - treeBefore[i]!);
  const worstTreeDelta = Math.max(...measured(deltas).map(Math.abs));
  // What the bound is about: memory that stays after a stop. A tree that ends
  // a cycle smaller than it began (the allocator returning memory from before
  // the cycle) is not residency, so the check uses growth.
  const worstTreeGrowth = Math.max(...measured(deltas));
  return {
    cycles,
    warmup_cycles: WARMUP_CYCLES,
    cycle_phase: mainRss.map((_, i) => (i < WARMUP_CYCLES ? 'warmup' : 'measured')),
    main_rss_mb: mainRss.map(mb),
    tree_rss_mb_before: treeBefore.map(mb),
    tree_rss_mb_after: treeAfter.map(mb),
    main_rss_slope_mb_per_cycle: round(mainSlope, 4),
    max_main_rss_slope_mb_per_cycle: MAX_MAIN_SLOPE_MB_PER_CYCLE,
    worst_tree_delta_mb: mb(worstTreeDelta),
    worst_tree_growth_mb: mb(worstTreeGrowth),
    segments_per_cycle: segments,
    descendants_seen: seen.size,
    descendants_left: descendantsLeft,
    descendants_left_outside_tree: leftOutsideTree,
    pass:
      mainSlope <= MAX_MAIN_SLOPE_MB_PER_CYCLE &&
      worstTreeGrowth <= MAX_TREE_GROWTH_BYTES &&
      descendantsLeft === 0 &&
      // The checks above are only evidence if every cycle ran its host and transcribed.
      seen.size >= cycles &&
      segments.every((n) => n > 0),
  };
}
