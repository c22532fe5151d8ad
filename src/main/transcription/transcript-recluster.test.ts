import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  absorbSmallClusters,
  agglomerativeCluster,
  matchLabelsToPrevious,
} from '../../core/clustering';
import { writeLongTranscriptLog } from '../../testing/long-transcript';
import { makeTempDir, removeTempDir } from '../../testing/tmp';
import { FINAL_SPEAKER_THRESHOLD } from './live-transcriber';
import {
  meanEmbedding,
  MAX_RECLUSTER_ITEMS,
  MIN_SPEAKER_S,
  reclusterTranscript,
  type RelabelPage,
  type SpeakerChange,
} from './transcript-recluster';
import type { OverlapConfig } from '../../core/overlap';
import { mulberry32 } from '../../core/prng';
import {
  readSegmentRecords,
  readTranscriptPage,
  TranscriptLog,
  type SegmentRecord,
} from './transcript-store';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-recluster-');
});
afterEach(() => removeTempDir(dir));

/**
 * The re-clustering as it was before it was bounded: every segment with an
 * embedding is an item of one average linkage, clusters with under
 * MIN_SPEAKER_S of speech joined to the nearest larger one, each named after
 * the live label it shares most segments with; the changes in reading order.
 */
function unboundedChanges(records: SegmentRecord[]): SpeakerChange[] {
  const withEmbedding = records.filter((r) => meanEmbedding(r.embeddings) !== null);
  const means = withEmbedding.map((r) => meanEmbedding(r.embeddings)!);
  const labels = matchLabelsToPrevious(
    withEmbedding.map((r) => r.speaker),
    absorbSmallClusters(
      agglomerativeCluster(means, { threshold: FINAL_SPEAKER_THRESHOLD }),
      means,
      withEmbedding.map((r) => r.endS - r.startS),
      MIN_SPEAKER_S,
    ),
  );
  const changes: SpeakerChange[] = [];
  withEmbedding.forEach((r, i) => {
    if (labels[i] !== r.speaker) {
      changes.push({ segment: r.id, speaker: labels[i]!, overlap: false });
    }
  });
  return changes;
}

/** Overlap marking off: the tests of the labels alone compare against clustering alone. */
const NO_OVERLAP_MARKS = { minGain: Infinity, minShare: 1 };

/** Runs the re-clustering on `dir` with a real log; returns what it announced. */
async function recluster(
  opts: { maxItems?: number; changesPerPage?: number; overlap?: OverlapConfig } = {},
): Promise<{ pages: RelabelPage[]; summary: { segmentCount: number; speakerCount: number } }> {
  const log = TranscriptLog.open(dir);
  const pages: RelabelPage[] = [];
  try {
    const summary = await reclusterTranscript(dir, {
      threshold: FINAL_SPEAKER_THRESHOLD,
      appendLabels: (changes, overlap) => log.appendLabels(changes, overlap),
      onChanges: (page) => pages.push(page),
      ...opts,
    });
    return { pages, summary };
  } finally {
    log.dispose();
    await log.whenWritten();
  }
}

/** A few segments without embeddings at the end, as a host gives for very short sounds. */
async function appendSegmentsWithoutEmbeddings(afterId: number): Promise<void> {
  const log = TranscriptLog.open(dir);
  for (let i = 1; i <= 3; i++) {
    const id = afterId + i * 16_000;
    void log.appendSegment({
      id,
      startS: id / 16_000,
      endS: id / 16_000 + 0.4,
      text: ' Mm.',
      speaker: 2,
      embeddings: [],
    });
  }
  log.dispose();
  await log.whenWritten();
}

describe('reclusterTranscript', () => {
  it.each([
    // Clean voices; voices with a few stragglers; noisy ones, where average
    // linkage leaves about a hundred small clusters besides the 4 voices.
    { sigma: 0.05, onlineThreshold: 0.9 },
    { sigma: 0.065, onlineThreshold: 0.5 },
    { sigma: 0.075, onlineThreshold: 0.5 },
  ])(
    'a short meeting (sigma $sigma) gets exactly the labels of clustering every segment',
    async ({ sigma, onlineThreshold }) => {
      const segments = MAX_RECLUSTER_ITEMS - 12;
      writeLongTranscriptLog(dir, { segments, sigma, onlineThreshold, seed: 3 });
      const last = (await readSegmentRecords(dir)).at(-1)!.id;
      await appendSegmentsWithoutEmbeddings(last);
      const records = await readSegmentRecords(dir);
      const expected = unboundedChanges(records);
      expect(expected.length).toBeGreaterThan(0);

      const { pages, summary } = await recluster({
        changesPerPage: 100,
        overlap: NO_OVERLAP_MARKS,
      });
      expect(pages.flatMap((p) => p.changes)).toEqual(expected);
      expect(pages.every((p) => p.changes.length <= 100)).toBe(true);
      // What was announced is what the folder now holds.
      const after = new Map(expected.map((c) => [c.segment, c.speaker]));
      expect((await readSegmentRecords(dir)).map((r) => [r.id, r.speaker])).toEqual(
        records.map((r) => [r.id, after.get(r.id) ?? r.speaker]),
      );
      expect(summary.segmentCount).toBe(segments + 3);
      // A second run finds nothing more to change.
      expect((await recluster({ overlap: NO_OVERLAP_MARKS })).pages).toEqual([]);
    },
  );

  it('a meeting longer than the cap is folded and still finds its speakers', async () => {
    const truth = writeLongTranscriptLog(dir, { segments: 3000, onlineThreshold: 0.9, seed: 5 });
    const { pages, summary } = await recluster({ maxItems: 40, changesPerPage: 250 });
    expect(summary).toEqual({ segmentCount: 3000, speakerCount: 4 });
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.every((p) => p.changes.length <= 250)).toBe(true);
    const speakers = (await readSegmentRecords(dir)).map((r) => r.speaker);
    // The final labels are the true voices, whatever each is called: one
    // label per voice, and no label for two voices.
    const labelOfVoice = new Map<string, number>();
    const voiceOfLabel = new Map<number, string>();
    [...truth.speakers].forEach((voice, i) => {
      expect(labelOfVoice.get(voice) ?? speakers[i]).toBe(speakers[i]);
      expect(voiceOfLabel.get(speakers[i]!) ?? voice).toBe(voice);
      labelOfVoice.set(voice, speakers[i]!);
      voiceOfLabel.set(speakers[i]!, voice);
    });
    expect(labelOfVoice.size).toBe(4);
  });

  it('keeps the live labels of speakers the re-clustering did not move', async () => {
    // A clean meeting whose live labels are not numbered by first appearance
    // (speaker v shown as 9 - v): the re-clustering finds the same voices, so
    // nothing changes.
    writeLongTranscriptLog(dir, { segments: 200, sigma: 0.05, onlineThreshold: 0.5, seed: 9 });
    const log = TranscriptLog.open(dir);
    await log.appendLabels(
      (await readSegmentRecords(dir)).map((r) => [r.id, 9 - r.speaker] as const),
    );
    log.dispose();
    await log.whenWritten();
    const records = await readSegmentRecords(dir);
    expect(records[0]!.speaker).toBe(9);
    const { pages } = await recluster();
    expect(pages).toEqual([]);
    expect((await readSegmentRecords(dir)).map((r) => r.speaker)).toEqual(
      records.map((r) => r.speaker),
    );
  });

  it('marks the segments with a window of two voices as overlapped, under the dominant one', async () => {
    // Three voices (cosine about 0.15 between them, as in long-transcript.ts),
    // 60 segments of three windows; two of them have one window in which a
    // second voice talks at 40% of the mix.
    const rnd = mulberry32(21);
    const gaussian = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
    const unit = (v: Float32Array) => v.map((x) => x / Math.hypot(...v));
    const common = unit(Float32Array.from({ length: 256 }, gaussian));
    const voices = [0, 1, 2].map(() =>
      unit(Float32Array.from({ length: 256 }, (_, d) => 0.4 * common[d]! + gaussian() / 16)),
    );
    const noisy = (v: Float32Array) => unit(v.map((x) => x + 0.01 * gaussian()));
    const overlapped = [17, 40];
    const speakerOf = (i: number) => Math.floor(i / 4) % 3;
    const log = TranscriptLog.open(dir);
    for (let i = 0; i < 60; i++) {
      const speaker = speakerOf(i);
      const other = voices[(speaker + 1) % 3]!;
      const windows = [0, 1, 2].map((w) =>
        overlapped.includes(i) && w === 2
          ? noisy(voices[speaker]!.map((x, d) => 0.6 * x + 0.4 * other[d]!))
          : noisy(voices[speaker]!),
      );
      void log.appendSegment({
        id: (i + 1) * 80_000,
        startS: (i + 1) * 5,
        endS: (i + 1) * 5 + 4.5,
        text: ` turn ${i}`,
        speaker,
        embeddings: windows,
      });
    }
    log.dispose();
    await log.whenWritten();

    const { pages, summary } = await recluster();
    expect(summary.speakerCount).toBe(3);
    const ids = overlapped.map((i) => (i + 1) * 80_000);
    // Only the marks changed: every speaker keeps its live label.
    expect(pages.flatMap((p) => p.changes)).toEqual(
      overlapped.map((i) => ({ segment: (i + 1) * 80_000, speaker: speakerOf(i), overlap: true })),
    );
    const page = await readTranscriptPage(dir, 0, 100);
    expect(page.segments.filter((s) => s.overlap).map((s) => s.id)).toEqual(ids);
    expect(page.segments.map((s) => s.speaker)).toEqual(
      Array.from({ length: 60 }, (_, i) => speakerOf(i)),
    );
    // The marks are saved: a second run changes nothing.
    expect((await recluster()).pages).toEqual([]);
  });

  it('an empty transcript: nothing to change', async () => {
    const { pages, summary } = await recluster();
    expect(pages).toEqual([]);
    expect(summary).toEqual({ segmentCount: 0, speakerCount: 0 });
  });

  it('changes that could not be saved are not announced', async () => {
    writeLongTranscriptLog(dir, { segments: 50, onlineThreshold: 0.95, seed: 7 });
    const pages: RelabelPage[] = [];
    const run = reclusterTranscript(dir, {
      threshold: FINAL_SPEAKER_THRESHOLD,
      appendLabels: () => Promise.reject(new Error('disk gone')),
      onChanges: (page) => pages.push(page),
    });
    await expect(run).rejects.toThrow('disk gone');
    expect(pages).toEqual([]);
  });
});
