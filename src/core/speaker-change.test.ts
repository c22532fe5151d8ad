import { describe, expect, it } from 'vitest';
import { mulberry32 } from './prng';
import {
  DEFAULT_SPEAKER_CHANGE,
  disjointWindowsInside,
  divideText,
  pickChanges,
  piecesBetween,
  planChangeWindows,
  refineChange,
  scoreCandidates,
  type SampleSpan,
  type SpeakerChangeConfig,
} from './speaker-change';

const RATE = 16_000;
const CONFIG: SpeakerChangeConfig = { ...DEFAULT_SPEAKER_CHANGE, sampleRate: RATE, windowS: 1.5 };
const s = (seconds: number) => Math.round(seconds * RATE);

/** A unit vector near `centre`: centre + Gaussian noise of `spread` per dimension. */
function noisy(centre: Float32Array, spread: number, random: () => number): Float32Array {
  const out = new Float32Array(centre.length);
  let norm = 0;
  for (let i = 0; i < out.length; i++) {
    // Box-Muller
    const g = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    out[i] = centre[i]! + spread * g;
    norm += out[i]! * out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / Math.sqrt(norm);
  return out;
}

function randomUnit(dims: number, random: () => number): Float32Array {
  return noisy(new Float32Array(dims), 1, random);
}

/**
 * A generated "embedding model": a window's embedding is the mixture of the
 * speakers it covers, weighted by how much of each it holds, plus noise, as a
 * window that straddles a change holds two voices.
 */
function embedWindows(
  windows: readonly SampleSpan[],
  turns: readonly { start: number; end: number; voice: Float32Array }[],
  spread: number,
  random: () => number,
): Float32Array[] {
  return windows.map((w) => {
    const mix = new Float32Array(turns[0]!.voice.length);
    for (const t of turns) {
      const shared = Math.max(0, Math.min(w.end, t.end) - Math.max(w.start, t.start));
      for (let i = 0; i < mix.length; i++) mix[i] = mix[i]! + shared * t.voice[i]!;
    }
    return noisy(mix, spread * Math.hypot(...mix), random);
  });
}

describe('planChangeWindows', () => {
  it('pairs a window ending at each boundary with one starting there, no shorter than the edge minimum', () => {
    const plan = planChangeWindows(s(6), CONFIG);
    expect(plan.hop).toBe(s(0.5));
    expect(plan.candidates.map((c) => c.at / RATE)).toEqual([1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]);
    for (const c of plan.candidates) {
      const left = plan.windows[c.left]!;
      const right = plan.windows[c.right]!;
      expect(left.end).toBe(c.at);
      expect(right.start).toBe(c.at);
      expect(left.end - left.start).toBeGreaterThanOrEqual(s(CONFIG.minWindowS));
      expect(right.end - right.start).toBeGreaterThanOrEqual(s(CONFIG.minWindowS));
      expect(left.end - left.start).toBeLessThanOrEqual(s(CONFIG.windowS));
      expect(left.start).toBeGreaterThanOrEqual(0);
      expect(right.end).toBeLessThanOrEqual(s(6));
    }
    // Each window is embedded once.
    const keys = plan.windows.map((w) => `${w.start}:${w.end}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('has nothing to compare in an utterance shorter than two edge windows', () => {
    const plan = planChangeWindows(s(1.4), CONFIG);
    expect(plan.candidates).toEqual([]);
    expect(plan.windows).toEqual([]);
  });

  it('widens the grid of a long utterance so that at most maxWindows are embedded', () => {
    const plan = planChangeWindows(s(60), CONFIG);
    expect(plan.windows.length).toBeLessThanOrEqual(CONFIG.maxWindows);
    expect(plan.hop).toBeGreaterThan(s(CONFIG.hopS));
    expect(plan.candidates.length).toBeGreaterThan(10);
  });
});

describe('pickChanges', () => {
  const scored = (scores: number[]) => scores.map((score, i) => ({ at: (i + 1) * 100, score }));

  it('keeps local minima below the threshold, a plateau once', () => {
    expect(pickChanges(scored([0.9, 0.2, 0.8, 0.8, 0.25, 0.25, 0.9]), 0.3, 1)).toEqual([200, 500]);
  });

  it('of two changes closer than the shortest turn keeps the more certain one', () => {
    expect(pickChanges(scored([0.9, 0.1, 0.5, 0.2, 0.9]), 0.3, 250)).toEqual([200]);
    expect(pickChanges(scored([0.9, 0.1, 0.5, 0.2, 0.9]), 0.3, 200)).toEqual([200, 400]);
  });

  it('finds nothing when every pair is alike', () => {
    expect(pickChanges(scored([0.8, 0.7, 0.75, 0.9]), 0.3, 1)).toEqual([]);
  });
});

describe('refineChange', () => {
  const n = 512;
  const activity = (probabilities: number[]) => ({
    frameSamples: n,
    probabilities: Float32Array.from(probabilities),
    pauseBelow: 0.35,
  });

  it('moves the change to the middle of the pause nearest the estimate', () => {
    //            0    1    2    3    4    5    6    7    8
    const vad = activity([0.9, 0.9, 0.9, 0.2, 0.1, 0.3, 0.9, 0.9, 0.9]);
    // The pause is frames 3-5: samples 1536-3072.
    expect(refineChange(6 * n, 3 * n, vad)).toBe(4.5 * n);
  });

  it('without a pause, moves to the least voiced frame', () => {
    const vad = activity([0.9, 0.9, 0.8, 0.6, 0.9, 0.9]);
    expect(refineChange(2 * n, 2 * n, vad)).toBe(3 * n + n / 2);
  });

  it('stays put without voice activity', () => {
    expect(refineChange(1000, 500, null)).toBe(1000);
  });
});

describe('piecesBetween', () => {
  it('gives the spans between cuts', () => {
    expect(piecesBetween(100, [30, 70], 10)).toEqual([
      { start: 0, end: 30 },
      { start: 30, end: 70 },
      { start: 70, end: 100 },
    ]);
  });

  it('joins a piece shorter than the minimum to the one before, or the first to the next', () => {
    expect(piecesBetween(100, [5, 50, 55], 10)).toEqual([
      { start: 0, end: 55 },
      { start: 55, end: 100 },
    ]);
  });

  it('always leaves at least one piece', () => {
    expect(piecesBetween(8, [4], 10)).toEqual([{ start: 0, end: 8 }]);
  });
});

describe('disjointWindowsInside', () => {
  it('picks full windows inside the piece that do not overlap', () => {
    const windows = [
      { start: 0, end: 10 },
      { start: 0, end: 15 },
      { start: 5, end: 20 },
      { start: 15, end: 30 },
      { start: 30, end: 45 },
    ];
    // Sorted as the plan sorts them (by start, longer first).
    windows.sort((a, b) => a.start - b.start || b.end - a.end);
    const chosen = disjointWindowsInside(windows, { start: 0, end: 40 }).map((i) => windows[i]);
    expect(chosen).toEqual([
      { start: 0, end: 15 },
      { start: 15, end: 30 },
    ]);
  });
});

describe('divideText', () => {
  const pieces = [
    { start: 0, end: s(1) },
    { start: s(1.2), end: s(2) },
  ];
  const token = (text: string, startMs: number, endMs: number) => ({ text, startMs, endMs });

  it('gives each word to the piece holding its middle, never splitting a word', () => {
    const texts = divideText(
      [
        token(' Yes', 100, 300),
        token(',', 300, 350),
        token(' agr', 700, 900),
        token('eed', 900, 1250), // the word " agreed" is 700-1250: middle 975, first piece
        token(' Right', 1300, 1600),
        token('.', 1600, 1700),
      ],
      pieces,
      RATE,
      0,
    );
    expect(texts).toEqual(['Yes, agreed', 'Right.']);
  });

  it('gives a word in the pause between two pieces to the nearer one, on the tokens clock', () => {
    // Token times are on the recording's clock; the pieces start at 10 s.
    const texts = divideText([token(' hmm', 11_120, 11_220)], pieces, RATE, 10_000);
    expect(texts).toEqual(['', 'hmm']);
  });
});

describe('change detection on generated embeddings', () => {
  it('finds each change of speaker within one hop, and none inside a turn', () => {
    const random = mulberry32(7);
    const voices = [randomUnit(32, random), randomUnit(32, random), randomUnit(32, random)];
    // Three turns with no pause between them: 0-3.2 s, 3.2-5.1 s, 5.1-8 s.
    const turns = [
      { start: 0, end: s(3.2), voice: voices[0]! },
      { start: s(3.2), end: s(5.1), voice: voices[1]! },
      { start: s(5.1), end: s(8), voice: voices[2]! },
    ];
    const plan = planChangeWindows(s(8), CONFIG);
    const embeddings = embedWindows(plan.windows, turns, 0.05, random);
    const changes = pickChanges(
      scoreCandidates(plan, embeddings),
      CONFIG.threshold,
      s(CONFIG.minTurnS),
    );
    expect(changes).toHaveLength(2);
    expect(Math.abs(changes[0]! - s(3.2))).toBeLessThanOrEqual(plan.hop);
    expect(Math.abs(changes[1]! - s(5.1))).toBeLessThanOrEqual(plan.hop);
  });

  it('finds no change in one speaker talking for 10 s', () => {
    const random = mulberry32(11);
    const voice = randomUnit(32, random);
    const plan = planChangeWindows(s(10), CONFIG);
    const embeddings = embedWindows(plan.windows, [{ start: 0, end: s(10), voice }], 0.05, random);
    expect(
      pickChanges(scoreCandidates(plan, embeddings), CONFIG.threshold, s(CONFIG.minTurnS)),
    ).toEqual([]);
  });
});
