/**
 * host-cycles: N x (start a recording, load all models in a model host,
 * transcribe 30 s of speech, stop). After each stop the host must be gone and
 * the memory of the whole process tree back where it was: the host's exit is
 * the models' unload. Uses the tiny-shaped Whisper model (78 MB, what the real
 * tiny.en costs to hold) and the generated speaker-embedding model.
 *
 *   npm run bench -- host-cycles            20 cycles
 *   npm run bench -- host-cycles --quick    5 cycles
 */
import { ensureWhisperModel } from '../src/testing/ggml-whisper-model';
import { ensureSpeakerEmbeddingModel } from '../src/testing/speaker-model';
import { ensureSyntheticMeeting } from '../src/testing/synthetic-meeting';
import fs from 'node:fs';
import { descendants, gc, mb, rssOf } from './support';
import { pumpFast, startLiveRun } from './support-live';

const SPEECH_SECONDS = 30;

export default async function hostCycles(args: string[]): Promise<Record<string, unknown>> {
  const cycles = args.includes('--quick') ? 5 : 20;
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
  // "Tree" is main plus any model host: tsx's esbuild service (a Go process
  // that returns memory to the OS on its own schedule, and absent from the
  // built app) is not Steno's.
  const treeRss = () =>
    [process.pid, ...descendants(process.pid).filter((p) => !baseline.has(p))].reduce(
      (sum, p) => sum + rssOf(p),
      0,
    );
  const mainRss: number[] = [];
  const treeBefore: number[] = [];
  const treeAfter: number[] = [];
  const hostPids: number[] = [];
  const segments: number[] = [];
  const settle = async () => {
    gc();
    await new Promise((r) => setTimeout(r, 1000));
    gc();
  };
  // One cycle before measuring: the fixtures above were generated or read in
  // this process, and the allocator gives that memory back only later.
  {
    const warm = await startLiveRun(wav, models, { pacing: 'manual', options: { maxTokens: 16 } });
    await pumpFast(warm, 5);
    await warm.finish();
    warm.dispose();
  }
  for (let i = 0; i < cycles; i++) {
    await settle();
    treeBefore.push(treeRss());
    const run = await startLiveRun(wav, models, {
      pacing: 'manual',
      options: { maxTokens: 16 },
    });
    hostPids.push(run.transcriber.hostPid ?? -1);
    await pumpFast(run, SPEECH_SECONDS);
    const transcript = await run.finish();
    segments.push(transcript.segments.length);
    run.dispose();
    await settle();
    treeAfter.push(treeRss());
    mainRss.push(process.memoryUsage().rss);
    process.stderr.write(
      `host-cycles: ${i + 1}/${cycles}: ${transcript.segments.length} segments, tree ${mb(treeBefore[i]!)} -> ${mb(treeAfter[i]!)} MB\n`,
    );
  }
  const hostLeft = descendants(process.pid).filter((p) => !baseline.has(p)).length;
  const mainGrowth = mainRss[cycles - 1]! - mainRss[1]!;
  const worstTreeDelta = Math.max(...treeAfter.map((a, i) => Math.abs(a - treeBefore[i]!)));
  // What the bound is about: memory that stays after a stop. A tree that ends
  // a cycle smaller than it began (the allocator returning memory from before
  // the cycle) is not residency, so the check uses growth.
  const worstTreeGrowth = Math.max(...treeAfter.map((a, i) => a - treeBefore[i]!));
  return {
    cycles,
    main_rss_mb: mainRss.map(mb),
    tree_rss_mb_before: treeBefore.map(mb),
    tree_rss_mb_after: treeAfter.map(mb),
    main_rss_growth_mb_2_to_last: mb(mainGrowth),
    worst_tree_delta_mb: mb(worstTreeDelta),
    worst_tree_growth_mb: mb(worstTreeGrowth),
    segments_per_cycle: segments,
    host_left: hostLeft,
    pass: mainGrowth <= 5 * 1024 * 1024 && worstTreeGrowth <= 10 * 1024 * 1024 && hostLeft === 0,
  };
}
