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
import { descendants, gc, mb, treeRss } from './support';
import { pumpFast, startLiveRun } from './support-live';

const SPEECH_SECONDS = 30;

export default async function hostCycles(args: string[]): Promise<Record<string, unknown>> {
  const cycles = args.includes('--quick') ? 5 : 20;
  const meeting = await ensureSyntheticMeeting();
  const models = {
    whisper: await ensureWhisperModel('tiny'),
    embedding: await ensureSpeakerEmbeddingModel(),
  };
  const mainRss: number[] = [];
  const treeBefore: number[] = [];
  const treeAfter: number[] = [];
  const hostPids: number[] = [];
  const segments: number[] = [];
  for (let i = 0; i < cycles; i++) {
    gc();
    treeBefore.push(treeRss(process.pid));
    const run = await startLiveRun(meeting.wav48k, models, {
      pacing: 'manual',
      options: { maxTokens: 16 },
    });
    hostPids.push(run.transcriber.hostPid ?? -1);
    await pumpFast(run, SPEECH_SECONDS);
    const transcript = await run.finish();
    segments.push(transcript.segments.length);
    run.dispose();
    gc();
    await new Promise((r) => setTimeout(r, 200));
    gc();
    treeAfter.push(treeRss(process.pid));
    mainRss.push(process.memoryUsage().rss);
    process.stderr.write(
      `host-cycles: ${i + 1}/${cycles}: ${transcript.segments.length} segments, tree ${mb(treeBefore[i]!)} -> ${mb(treeAfter[i]!)} MB\n`,
    );
  }
  const hostLeft = descendants(process.pid).length;
  const mainGrowth = mainRss[cycles - 1]! - mainRss[1]!;
  const worstTreeDelta = Math.max(...treeAfter.map((a, i) => Math.abs(a - treeBefore[i]!)));
  return {
    cycles,
    main_rss_mb: mainRss.map(mb),
    tree_rss_mb_before: treeBefore.map(mb),
    tree_rss_mb_after: treeAfter.map(mb),
    main_rss_growth_mb_2_to_last: mb(mainGrowth),
    worst_tree_delta_mb: mb(worstTreeDelta),
    segments_per_cycle: segments,
    host_left: hostLeft,
    pass: mainGrowth <= 5 * 1024 * 1024 && worstTreeDelta <= 10 * 1024 * 1024 && hostLeft === 0,
  };
}
