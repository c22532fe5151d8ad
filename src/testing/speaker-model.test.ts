/**
 * The generated speaker-embedding model on the synthetic meeting: embeddings
 * of one espeak voice must be closer to each other than to other voices, and
 * clustering them must label the meeting with a diarization error rate of at
 * most 0.15, as the real WeSpeaker model would on real speech.
 *
 * The clustering and DER scoring here are small local versions (average
 * linkage with a cosine threshold; frame-based NIST DER, no collar, overlap
 * scored) so this test does not depend on src/core/clustering.ts.
 */
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cosineSimilarity } from '../core/clustering';
import { applyCmn, computeFbank } from '../core/fbank';
import { SpeakerEmbedder } from '../host/speaker-embedder';
import { ensureSpeakerEmbeddingModel } from './speaker-model';
import { ensureSyntheticMeeting, readMonoWav, type SyntheticMeeting } from './synthetic-meeting';

interface Segment {
  speaker: string;
  start: number;
  end: number;
}

/**
 * Merge clusters while the average cosine similarity between the closest two is
 * at least this. WeSpeaker-style embeddings put one speaker's segments at 0.6-0.9
 * and different speakers' below 0.4; the midpoint leaves margin both ways.
 */
const MERGE_THRESHOLD = 0.5;
const MAX_DER = 0.15;
const SAMPLE_RATE = 16000;
/** The live pipeline embeds ~1.5 s windows; this checks the model on those too. */
const WINDOW_S = 1.5;

let meeting: SyntheticMeeting;
let samples: Float32Array;
let modelPath: string;

beforeAll(async () => {
  meeting = await ensureSyntheticMeeting();
  modelPath = await ensureSpeakerEmbeddingModel();
  const wav = await readMonoWav(meeting.wav16k);
  expect(wav.sampleRate).toBe(SAMPLE_RATE);
  samples = wav.samples;
});

function slice(start: number, end: number): Float32Array {
  return samples.subarray(Math.round(start * SAMPLE_RATE), Math.round(end * SAMPLE_RATE));
}

async function embedSegments(
  segments: readonly { start: number; end: number }[],
): Promise<Float32Array[]> {
  const embedder = await SpeakerEmbedder.create(modelPath);
  try {
    const out: Float32Array[] = [];
    for (const s of segments)
      out.push(await embedder.embed(applyCmn(computeFbank(slice(s.start, s.end)))));
    return out;
  } finally {
    embedder.dispose();
  }
}

/** Average-linkage agglomerative clustering by cosine similarity; returns a cluster index per item. */
function clusterAverageLinkage(embeddings: readonly Float32Array[], threshold: number): number[] {
  const n = embeddings.length;
  const sim = embeddings.map((a) => embeddings.map((b) => cosineSimilarity(a, b)));
  let clusters = embeddings.map((_, i) => [i]);
  const linkage = (x: number[], y: number[]) => {
    let s = 0;
    for (const i of x) for (const j of y) s += sim[i]![j]!;
    return s / (x.length * y.length);
  };
  while (clusters.length > 1) {
    let best = -Infinity;
    let pair: [number, number] = [0, 1];
    for (let a = 0; a < clusters.length; a++) {
      for (let b = a + 1; b < clusters.length; b++) {
        const s = linkage(clusters[a]!, clusters[b]!);
        if (s > best) {
          best = s;
          pair = [a, b];
        }
      }
    }
    if (best < threshold) break;
    const [a, b] = pair;
    clusters = clusters
      .filter((_, i) => i !== a && i !== b)
      .concat([[...clusters[a]!, ...clusters[b]!]]);
  }
  const label = new Array<number>(n).fill(-1);
  clusters.forEach((members, c) => members.forEach((i) => (label[i] = c)));
  return label;
}

function parseRttm(text: string): Segment[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('SPEAKER '))
    .map((line) => {
      const f = line.trim().split(/\s+/);
      const start = Number(f[3]);
      return { speaker: f[7]!, start, end: start + Number(f[4]) };
    });
}

/**
 * Frame-based DER (10 ms frames, no collar, overlapping speech scored): per
 * frame, error = max(#ref, #hyp) - #correct under the speaker mapping that
 * maximises matched time; DER = total error / total reference speech.
 */
function diarizationErrorRate(reference: Segment[], hypothesis: Segment[]): number {
  const step = 0.01;
  const end = Math.max(...reference.map((s) => s.end), ...hypothesis.map((s) => s.end));
  const frames = Math.ceil(end / step);
  const active = (segments: Segment[]) => {
    const speakers = [...new Set(segments.map((s) => s.speaker))];
    const grid = speakers.map(() => new Uint8Array(frames));
    for (const s of segments) {
      const row = grid[speakers.indexOf(s.speaker)]!;
      for (let f = Math.round(s.start / step); f < Math.round(s.end / step); f++) row[f] = 1;
    }
    return grid;
  };
  const ref = active(reference);
  const hyp = active(hypothesis);
  const overlap = ref.map((r) => hyp.map((h) => r.reduce((n, v, f) => n + (v & h[f]!), 0)));
  // Best injective mapping ref -> hyp by exhaustive search (a handful of speakers).
  let bestMap: number[] = [];
  let bestScore = -1;
  const search = (i: number, used: Set<number>, map: number[], score: number) => {
    if (i === ref.length) {
      if (score > bestScore) [bestScore, bestMap] = [score, [...map]];
      return;
    }
    search(i + 1, used, [...map, -1], score);
    for (let j = 0; j < hyp.length; j++) {
      if (used.has(j)) continue;
      used.add(j);
      search(i + 1, used, [...map, j], score + overlap[i]![j]!);
      used.delete(j);
    }
  };
  search(0, new Set(), [], 0);
  let error = 0;
  let total = 0;
  for (let f = 0; f < frames; f++) {
    let nRef = 0;
    let nHyp = 0;
    let correct = 0;
    ref.forEach((r, i) => {
      nRef += r[f]!;
      const j = bestMap[i]!;
      if (j >= 0) correct += r[f]! & hyp[j]![f]!;
    });
    for (const h of hyp) nHyp += h[f]!;
    error += Math.max(nRef, nHyp) - correct;
    total += nRef;
  }
  return error / total;
}

function printMatrix(labels: string[], embeddings: Float32Array[]): string {
  const head = '      ' + labels.map((l) => l.padStart(6)).join('');
  const rows = embeddings.map(
    (a, i) =>
      labels[i]!.padEnd(6) +
      embeddings.map((b) => cosineSimilarity(a, b).toFixed(2).padStart(6)).join(''),
  );
  return [head, ...rows].join('\n');
}

describe('synthetic meeting fixture', () => {
  it('has 3 voices, 12 turns of 1.5-5 s, 0.6-1.5 s gaps, no overlaps, and both WAVs', async () => {
    const { turns } = meeting;
    expect(new Set(turns.map((t) => t.speaker)).size).toBeGreaterThanOrEqual(3);
    expect(turns.length).toBeGreaterThanOrEqual(12);
    for (const [i, t] of turns.entries()) {
      expect(t.end - t.start).toBeGreaterThanOrEqual(1.5);
      expect(t.end - t.start).toBeLessThanOrEqual(5);
      const previous = turns[i - 1];
      if (previous) {
        expect(t.speaker).not.toBe(previous.speaker);
        expect(t.start - previous.end).toBeGreaterThanOrEqual(0.6 - 0.002);
        expect(t.start - previous.end).toBeLessThanOrEqual(1.5 + 0.002);
      }
    }
    expect(parseRttm(fs.readFileSync(meeting.rttm, 'utf8'))).toHaveLength(turns.length);
    const wav48 = await readMonoWav(meeting.wav48k);
    expect(wav48.sampleRate).toBe(48000);
    expect(wav48.samples.length / 48000).toBeCloseTo(meeting.durationS, 2);
    expect(samples.length / SAMPLE_RATE).toBeCloseTo(meeting.durationS, 2);
  });

  it('has its turn boundaries where the audio starts and stops', () => {
    const rms = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    for (const t of meeting.turns) {
      // Just outside a turn is the -60 dBFS noise floor; the turn's first and last
      // 100 ms hold speech. espeak's quiet onsets are why the margin is 100 ms.
      const before = rms(slice(t.start - 0.1, t.start - 0.01));
      const after = rms(slice(t.end + 0.01, t.end + 0.1));
      const head = rms(slice(t.start, t.start + 0.1));
      const tail = rms(slice(t.end - 0.1, t.end));
      expect(before).toBeLessThan(0.002);
      expect(after).toBeLessThan(0.002);
      expect(head).toBeGreaterThan(3 * before);
      expect(tail).toBeGreaterThan(3 * after);
    }
  });
});

describe('generated speaker-embedding model on the synthetic meeting', () => {
  it('puts one voice closer to itself than to the others, per turn', async () => {
    const turns = meeting.turns;
    const embeddings = await embedSegments(turns);
    const labels = turns.map((t, i) => `${t.speaker}${i}`);
    let sameMin = Infinity;
    let sameSum = 0;
    let sameN = 0;
    let crossMax = -Infinity;
    let crossSum = 0;
    let crossN = 0;
    for (let i = 0; i < turns.length; i++) {
      for (let j = i + 1; j < turns.length; j++) {
        const s = cosineSimilarity(embeddings[i]!, embeddings[j]!);
        if (turns[i]!.speaker === turns[j]!.speaker) {
          sameMin = Math.min(sameMin, s);
          sameSum += s;
          sameN++;
        } else {
          crossMax = Math.max(crossMax, s);
          crossSum += s;
          crossN++;
        }
      }
    }
    console.log(`cosine similarity between turns:\n${printMatrix(labels, embeddings)}`);
    console.log(
      `same speaker: min ${sameMin.toFixed(3)} mean ${(sameSum / sameN).toFixed(3)}; ` +
        `different speakers: max ${crossMax.toFixed(3)} mean ${(crossSum / crossN).toFixed(3)}`,
    );
    // Every same-speaker pair above every cross-speaker pair, with margin.
    expect(sameMin - crossMax).toBeGreaterThan(0.15);
    expect(sameMin).toBeGreaterThan(MERGE_THRESHOLD);
    expect(crossMax).toBeLessThan(MERGE_THRESHOLD);
  });

  it(`labels the meeting with DER <= ${MAX_DER} from turn embeddings`, async () => {
    const reference = parseRttm(fs.readFileSync(meeting.rttm, 'utf8'));
    const embeddings = await embedSegments(meeting.turns);
    const labels = clusterAverageLinkage(embeddings, MERGE_THRESHOLD);
    const hypothesis = meeting.turns.map((t, i) => ({
      speaker: `S${labels[i]}`,
      start: t.start,
      end: t.end,
    }));
    const der = diarizationErrorRate(reference, hypothesis);
    console.log(
      `turns: ${new Set(labels).size} clusters for ${new Set(reference.map((s) => s.speaker)).size} speakers, ` +
        `labels ${labels.join(' ')}, DER ${der.toFixed(3)}`,
    );
    expect(der).toBeLessThanOrEqual(MAX_DER);
  });

  it(`labels the meeting with DER <= ${MAX_DER} from ${WINDOW_S} s windows`, async () => {
    const reference = parseRttm(fs.readFileSync(meeting.rttm, 'utf8'));
    // Each turn cut into 1.5 s windows; a remainder shorter than half a window joins the last one.
    const windows: Segment[] = [];
    for (const t of meeting.turns) {
      const count = Math.max(1, Math.round((t.end - t.start) / WINDOW_S));
      const length = (t.end - t.start) / count;
      for (let k = 0; k < count; k++) {
        windows.push({
          speaker: t.speaker,
          start: t.start + k * length,
          end: t.start + (k + 1) * length,
        });
      }
    }
    const embeddings = await embedSegments(windows);
    const labels = clusterAverageLinkage(embeddings, MERGE_THRESHOLD);
    const hypothesis = windows.map((w, i) => ({
      speaker: `S${labels[i]}`,
      start: w.start,
      end: w.end,
    }));
    const der = diarizationErrorRate(reference, hypothesis);
    console.log(
      `${windows.length} windows: ${new Set(labels).size} clusters, DER ${der.toFixed(3)}`,
    );
    expect(der).toBeLessThanOrEqual(MAX_DER);
  });

  it('scores DER as expected on known labellings (the scorer itself)', () => {
    const reference = parseRttm(fs.readFileSync(meeting.rttm, 'utf8'));
    const speech = reference.reduce((n, s) => n + s.end - s.start, 0);
    // Perfect up to renaming.
    expect(
      diarizationErrorRate(
        reference,
        reference.map((s) => ({ ...s, speaker: `x${s.speaker}` })),
      ),
    ).toBe(0);
    // One speaker for everything: the other speakers' time is confusion.
    const one = diarizationErrorRate(
      reference,
      reference.map((s) => ({ ...s, speaker: 'x' })),
    );
    const largest = Math.max(
      ...[...new Set(reference.map((s) => s.speaker))].map((sp) =>
        reference.filter((s) => s.speaker === sp).reduce((n, s) => n + s.end - s.start, 0),
      ),
    );
    expect(one).toBeCloseTo((speech - largest) / speech, 2);
    // Nothing detected: all missed.
    expect(diarizationErrorRate(reference, [{ speaker: 'x', start: 0, end: 0 }])).toBeCloseTo(1, 5);
  });
});
