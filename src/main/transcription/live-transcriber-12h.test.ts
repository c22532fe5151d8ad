import v8 from 'node:v8';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS } from '../../core/api/types';
import type { HostModelPaths } from '../../core/host-protocol';
import { wavFeedSource } from '../../testing/feed-source';
import { writeLongTranscriptLogInChild } from '../../testing/long-transcript';
import { RssSampler, settleHeap } from '../../testing/rss-sampler';
import { scriptedLauncher } from '../../testing/scripted-host';
import { TEST_HOST_OPTIONS } from '../../testing/test-models';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { LiveTranscriber } from './live-transcriber';
import { readTranscriptPage } from './transcript-store';

const FAKE_MODELS: HostModelPaths = { whisper: 'w', vad: 'v', embedding: 'e' };
const MiB = 1024 * 1024;
/** The stop may grow the main process by at most this much, whatever the meeting's length. */
const STOP_RSS_BUDGET = 20 * MiB;

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-12h-');
});
afterEach(() => removeTempDir(dir));

/** Resident bytes of V8's young generation (new space). */
function youngGenerationBytes(): number {
  return (
    v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0
  );
}

/** Every segment's speaker, by reading the transcript page by page as the library does. */
async function speakersByPages(
  count: number,
): Promise<{ ids: Float64Array; speakers: Int32Array; pages: number }> {
  const ids = new Float64Array(count);
  const speakers = new Int32Array(count);
  let pages = 0;
  for (let offset = 0; ; offset += LIMITS.segmentsPerPage) {
    const page = await readTranscriptPage(dir, offset, LIMITS.segmentsPerPage);
    expect(page.total).toBe(count);
    expect(page.offset).toBe(offset);
    if (page.segments.length === 0) break;
    pages++;
    expect(page.segments.length).toBe(Math.min(LIMITS.segmentsPerPage, count - offset));
    page.segments.forEach((s, i) => {
      ids[offset + i] = s.id;
      speakers[offset + i] = s.speaker;
    });
  }
  return { ids, speakers, pages };
}

describe('stopping a 12-hour recording', () => {
  it('relabels 14,400 segments within 20 MB of RSS, finds the 4 speakers, and the pages read back right', async () => {
    // An online pass that split the 4 voices (its threshold stricter than
    // Steno's), so that the stop has thousands of labels to change.
    const truth = await writeLongTranscriptLogInChild(dir, { onlineThreshold: 0.9 });
    expect(truth.segmentCount).toBe(14_400);
    expect(truth.spanS).toBeGreaterThan(12 * 3600 * 0.95);
    const count = truth.segmentCount;
    // The labels the log carries before the stop, from the generator: nothing
    // is read in this process before the stop is measured.
    const before = Int32Array.from(truth.onlineLabels, (c) => parseInt(c, 36));

    const { launcher, hosts } = scriptedLauncher();
    const live = new LiveTranscriber({
      folder: dir,
      source: wavFeedSource(dir, 2),
      models: FAKE_MODELS,
      options: TEST_HOST_OPTIONS,
      launcher,
    });
    await live.start();
    // What the pages announce, kept in arrays made before the baseline.
    const changedIds = new Float64Array(count);
    const changedSpeakers = new Int32Array(count);
    const changedMarks = new Uint8Array(count);
    let changes = 0;
    let largestPage = 0;
    let relabelPages = 0;
    let overlapMarks = 0;
    const sub = live.onDidRelabel((page) => {
      relabelPages++;
      largestPage = Math.max(largestPage, page.changes.length);
      for (const c of page.changes) {
        if (c.overlap) overlapMarks++;
        changedMarks[changes] = c.overlap ? 1 : 0;
        changedIds[changes] = c.segment;
        changedSpeakers[changes++] = c.speaker;
      }
    });
    const failures: unknown[] = [];
    const failSub = live.onDidFail((e) => failures.push(e));

    // Baseline: after forced GCs, with the young generation resident again
    // (see settleHeap); the sampler's thread is part of it.
    const sampler = await RssSampler.start(2);
    settleHeap();
    await new Promise((r) => setTimeout(r, 20));
    const youngBefore = youngGenerationBytes();
    const baseline = process.memoryUsage().rss;
    await sampler.begin();
    const t0 = performance.now();
    const summary = await live.finish();
    const stopMs = performance.now() - t0;
    const { peakBytes, samples } = await sampler.end();
    const growth = Math.max(0, peakBytes - baseline);
    const youngAfter = youngGenerationBytes();
    sampler.dispose();
    sub.dispose();
    failSub.dispose();
    live.dispose();
    for (const h of hosts) h.dispose();

    const t1 = performance.now();
    const after = await speakersByPages(count);
    const pagingMs = performance.now() - t1;

    // The true speaker each final label stands for; labels must not be shared.
    const labelOf = new Map<number, number>();
    let wrong = 0;
    for (let i = 0; i < count; i++) {
      const voice = Number(truth.speakers[i]);
      const label = labelOf.get(voice) ?? after.speakers[i]!;
      labelOf.set(voice, label);
      if (after.speakers[i] !== label) wrong++;
    }
    console.log(
      `12-hour stop: ${count} segments (${(truth.spanS / 3600).toFixed(1)} h, log ${(truth.bytes / MiB).toFixed(1)} MiB), ` +
        `${truth.onlineSpeakers} online speakers -> ${summary.speakerCount}, ${changes} label changes in ${relabelPages} pages (largest ${largestPage}), ` +
        `stop ${(stopMs / 1000).toFixed(1)} s, main RSS +${(growth / MiB).toFixed(1)} MiB at peak (${samples} samples, baseline ${(baseline / MiB).toFixed(0)} MiB, ` +
        `V8 young generation ${(youngBefore / MiB).toFixed(1)} -> ${(youngAfter / MiB).toFixed(1)} MiB resident); ` +
        `${after.pages} pages read back in ${(pagingMs / 1000).toFixed(1)} s, ${wrong} segments with a wrong speaker`,
    );

    expect(failures).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    expect(growth).toBeLessThanOrEqual(STOP_RSS_BUDGET);
    expect(summary).toEqual({ segmentCount: count, speakerCount: 4 });
    expect(new Set(labelOf.values()).size).toBe(4);
    expect(wrong).toBe(0);
    // One voice per segment in this meeting: what the overlap marking's
    // second pass marks is noise taken for a second voice (33 of 14,400 when
    // this was written), which must stay rare.
    expect(overlapMarks).toBeLessThanOrEqual(count * 0.01);

    // The pages announced exactly what changed on disk, each page within the API's cap.
    expect(changes).toBeGreaterThan(LIMITS.segmentsPerPage);
    expect(largestPage).toBeLessThanOrEqual(LIMITS.segmentsPerPage);
    expect(relabelPages).toBe(Math.ceil(changes / LIMITS.segmentsPerPage));
    expect(after.ids.every((id, i) => i === 0 || id > after.ids[i - 1]!)).toBe(true);
    const expected = Int32Array.from(before);
    const position = new Map<number, number>();
    after.ids.forEach((id, i) => position.set(id, i));
    for (let c = 0; c < changes; c++) {
      const i = position.get(changedIds[c]!)!;
      // A change is a new label, or a new mark (which may keep the label).
      if (!changedMarks[c]) expect(expected[i]).not.toBe(changedSpeakers[c]);
      expected[i] = changedSpeakers[c]!;
    }
    expect(after.speakers).toEqual(expected);
  }, 120_000);
});
