/**
 * The re-clustering at stop of one transcript log, alone in a fresh process so
 * that its memory is measured from this process's idle state:
 *
 *   node --expose-gc --import tsx bench/recluster-child.ts <folder>
 *
 * Prints one JSON line: idle and peak RSS (sampled every 2 ms from a worker
 * thread, which is part of the idle figure), the wall time and the summary.
 */
import { FINAL_SPEAKER_THRESHOLD } from '../src/main/transcription/live-transcriber';
import { reclusterTranscript } from '../src/main/transcription/transcript-recluster';
import { TranscriptLog } from '../src/main/transcription/transcript-store';
import { RssSampler } from '../src/testing/rss-sampler';
import { gc, mb } from './support';

const folder = process.argv[2];
if (!folder) throw new Error('usage: recluster-child.ts <folder>');

const log = TranscriptLog.open(folder);
const sampler = await RssSampler.start(2);
gc();
await new Promise((r) => setTimeout(r, 50));
const idle = process.memoryUsage().rss;
await sampler.begin();
const started = performance.now();
let changes = 0;
let overlapMarks = 0;
const summary = await reclusterTranscript(folder, {
  threshold: FINAL_SPEAKER_THRESHOLD,
  appendLabels: (c, overlap) => log.appendLabels(c, overlap),
  onChanges: (page) => {
    changes += page.changes.length;
    overlapMarks += page.changes.filter((c) => c.overlap).length;
  },
});
const seconds = (performance.now() - started) / 1000;
const { peakBytes } = await sampler.end();
sampler.dispose();
log.dispose();
await log.whenWritten();
process.stdout.write(
  JSON.stringify({
    idleRssMb: mb(idle),
    peakRssMb: mb(peakBytes),
    seconds,
    changes,
    overlapMarks,
    ...summary,
  }) + '\n',
);
