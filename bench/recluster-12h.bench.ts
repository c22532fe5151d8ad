/**
 * recluster-12h: the re-clustering at stop of a 12-hour meeting's transcript.
 * The log is written as a live run leaves it (src/testing/long-transcript.ts:
 * 14 400 utterances of 1.5-4 s, one window embedding per 1.5 s of speech, 4
 * voices, labelled live by an online pass stricter than Steno's so that
 * thousands of labels change), then re-clustered in a fresh process
 * (bench/recluster-child.ts) whose RSS is sampled every 2 ms.
 *
 * The method is two-stage: every segment's mean embedding is folded into at
 * most 512 micro-clusters (one pass over the log), and average linkage runs
 * on those; memory is bounded by that cap, not by the meeting.
 *
 * Bounds: peak RSS at most 200 MB above the process's idle RSS, and the 4
 * voices found.
 *
 *   npm run bench -- recluster-12h     (`--quick`: 3 hours)
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { writeLongTranscriptLogInChild } from '../src/testing/long-transcript';
import { round } from './support';

const execFileAsync = promisify(execFile);
const MAX_PEAK_ABOVE_IDLE_MB = 200;
const SEGMENTS_12H = 14_400;

export default async function recluster12h(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const segments = quick ? SEGMENTS_12H / 4 : SEGMENTS_12H;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-recluster-'));
  try {
    process.stderr.write(`recluster-12h: writing a log of ${segments} segments\n`);
    const truth = await writeLongTranscriptLogInChild(dir, { segments, onlineThreshold: 0.9 });
    process.stderr.write('recluster-12h: re-clustering in a fresh process\n');
    const child = path.join(path.dirname(new URL(import.meta.url).pathname), 'recluster-child.ts');
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', child, dir],
      { maxBuffer: 1 << 20 },
    );
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
      idleRssMb: number;
      peakRssMb: number;
      seconds: number;
      changes: number;
      overlapMarks: number;
      segmentCount: number;
      speakerCount: number;
    };
    const aboveIdle = round(r.peakRssMb - r.idleRssMb, 1);
    return {
      hours: round(truth.spanS / 3600, 2),
      segments: r.segmentCount,
      log_mb: round(truth.bytes / 1024 / 1024, 1),
      speakers_true: new Set(truth.speakers).size,
      speakers_found: r.speakerCount,
      // Segments whose label or overlap mark changed; of them, marked overlapped:
      segments_changed: r.changes,
      overlap_marked: r.overlapMarks,
      recluster_s: round(r.seconds, 2),
      idle_rss_mb: r.idleRssMb,
      recluster_peak_rss_mb: r.peakRssMb,
      recluster_peak_above_idle_mb: aboveIdle,
      max_peak_above_idle_mb: MAX_PEAK_ABOVE_IDLE_MB,
      pass: aboveIdle <= MAX_PEAK_ABOVE_IDLE_MB && r.speakerCount === new Set(truth.speakers).size,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
