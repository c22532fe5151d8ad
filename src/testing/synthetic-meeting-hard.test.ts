/**
 * The held-out meeting has the properties its name promises, measured on the
 * generated files (the RTTM as written, the audio as sampled), not read back
 * from the recipe: at least 4 voices of which two are close, turns as short as
 * 0.7 s, 10% of the speech time overlapped with the samples mixed, a noise
 * floor at -35 dBFS over the whole file, and no clipping.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Turn } from '../core/der';
import { parseRttm } from '../core/rttm';
import {
  ensureHardSyntheticMeeting,
  readMonoWav,
  type HardSyntheticMeeting,
  type MeetingTurn,
} from './synthetic-meeting';
import { makeTempDir, removeTempDir } from './tmp';

const execFileAsync = promisify(execFile);

let meeting: HardSyntheticMeeting;
let reference: Turn[];
let audio48k: { sampleRate: number; samples: Float32Array };
let audio16k: { sampleRate: number; samples: Float32Array };

beforeAll(async () => {
  meeting = await ensureHardSyntheticMeeting();
  reference = parseRttm(await fs.promises.readFile(meeting.rttm, 'utf8'));
  audio48k = await readMonoWav(meeting.wav48k);
  audio16k = await readMonoWav(meeting.wav16k);
}, 120_000);

/** Stretches of the timeline with how many reference speakers talk in each. */
function talkers(turns: readonly Turn[]): { start: number; end: number; count: number }[] {
  const events = turns.flatMap((t) => [
    { time: t.start, delta: 1 },
    { time: t.end, delta: -1 },
  ]);
  events.sort((a, b) => a.time - b.time || a.delta - b.delta);
  const out: { start: number; end: number; count: number }[] = [];
  let count = 0;
  for (let i = 0; i < events.length; i++) {
    count += events[i]!.delta;
    const next = events[i + 1];
    if (next && next.time > events[i]!.time) {
      out.push({ start: events[i]!.time, end: next.time, count });
    }
  }
  return out;
}

function slice(
  audio: { sampleRate: number; samples: Float32Array },
  start: number,
  end: number,
): Float32Array {
  return audio.samples.subarray(
    Math.max(0, Math.round(start * audio.sampleRate)),
    Math.round(end * audio.sampleRate),
  );
}

function meanSquare(x: Float32Array): number {
  let sum = 0;
  for (const v of x) sum += v * v;
  return x.length > 0 ? sum / x.length : 0;
}

const dbfs = (ms: number): number => 10 * Math.log10(ms);

/**
 * Median fundamental frequency of the voiced frames in the given stretches, by
 * normalised autocorrelation (40 ms frames, 60-400 Hz): enough to compare the
 * pitch of two voices, not a general pitch tracker.
 */
function medianF0(stretches: readonly { start: number; end: number }[]): number {
  const rate = audio16k.sampleRate;
  const frame = Math.round(0.04 * rate);
  const minLag = Math.floor(rate / 400);
  const maxLag = Math.ceil(rate / 60);
  const f0s: number[] = [];
  for (const s of stretches) {
    const x = slice(audio16k, s.start, s.end);
    for (let at = 0; at + frame + maxLag <= x.length; at += frame / 2) {
      const energy = meanSquare(x.subarray(at, at + frame));
      // Voiced speech is well above the -36.6 dBFS (16 kHz) noise floor.
      if (dbfs(energy) < -26) continue;
      let best = 0;
      let bestLag = 0;
      for (let lag = minLag; lag <= maxLag; lag++) {
        let dot = 0;
        let shifted = 0;
        for (let k = 0; k < frame; k++) {
          dot += x[at + k]! * x[at + k + lag]!;
          shifted += x[at + k + lag]! ** 2;
        }
        const r = dot / Math.sqrt(energy * frame * shifted + 1e-12);
        if (r > best) {
          best = r;
          bestLag = lag;
        }
      }
      if (best > 0.6) f0s.push(rate / bestLag);
    }
  }
  f0s.sort((a, b) => a - b);
  expect(f0s.length).toBeGreaterThan(50);
  return f0s[Math.floor(f0s.length / 2)]!;
}

/** The parts of a speaker's turns in which nobody else talks. */
function soloStretches(speaker: string): { start: number; end: number }[] {
  const others = reference.filter((t) => t.speaker !== speaker);
  const out: { start: number; end: number }[] = [];
  for (const t of reference.filter((r) => r.speaker === speaker)) {
    let start = t.start;
    let end = t.end;
    for (const o of others) {
      if (o.start < end && o.end > start) {
        if (o.start <= start) start = Math.max(start, o.end);
        else end = Math.min(end, o.start);
      }
    }
    if (end - start > 0.2) out.push({ start, end });
  }
  return out;
}

/** Normalised correlation of two signals over their common length. */
function correlation(x: Float32Array, y: Float32Array): number {
  const n = Math.min(x.length, y.length);
  let xy = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < n; i++) {
    xy += x[i]! * y[i]!;
    xx += x[i]! ** 2;
    yy += y[i]! ** 2;
  }
  return xy / Math.sqrt(xx * yy + 1e-20);
}

/**
 * The turn spoken again by espeak-ng on its own and resampled to 16 kHz by sox,
 * shifted so that its sample 0 lies at the turn's start in the meeting: the
 * shift is found by correlating with the meeting over `soloStart..soloEnd`,
 * where only this turn talks (around espeak's leading silence, +-25 ms).
 */
async function alignedAlone(
  turn: MeetingTurn,
  soloStart: number,
  soloEnd: number,
  dir: string,
): Promise<Float32Array> {
  const voice = meeting.voices[turn.speaker]!;
  const spoken = path.join(dir, 'spoken.wav');
  const resampled = path.join(dir, 'spoken-16k.wav');
  await execFileAsync('espeak-ng', [
    ...['-v', voice.voice, '-p', String(voice.pitch), '-s', String(voice.speed)],
    ...['-w', spoken, turn.text],
  ]);
  await execFileAsync('sox', ['-R', '-D', spoken, '-b', '16', resampled, 'rate', '-v', '16000']);
  const alone = (await readMonoWav(resampled)).samples;
  const rate = 16000;
  const onset = Math.max(
    0,
    alone.findIndex((v) => Math.abs(v) > 0.005),
  );
  const target = slice(audio16k, soloStart, soloEnd);
  const inTurn = Math.round((soloStart - turn.start) * rate);
  let best = -Infinity;
  let bestLead = onset;
  for (let lead = Math.max(0, onset - 400); lead <= onset + 400; lead++) {
    const at = lead + inTurn;
    if (at < 0 || at + target.length > alone.length) continue;
    const r = correlation(target, alone.subarray(at, at + target.length));
    if (r > best) {
      best = r;
      bestLead = lead;
    }
  }
  // Alone and in the meeting, the solo part is the same waveform (plus noise).
  expect(best).toBeGreaterThan(0.8);
  return alone.subarray(bestLead);
}

describe('the hard synthetic meeting', () => {
  it('has at least 4 voices, and its RTTM matches the meeting it came with', () => {
    const speakers = new Set(reference.map((t) => t.speaker));
    expect(speakers.size).toBeGreaterThanOrEqual(4);
    for (const s of speakers) expect(meeting.voices[s]).toBeDefined();
    // RTTM holds start and duration in ms, so the end is compared to the ms.
    const ms = (x: number) => Math.round(x * 1000);
    expect(reference.map((t) => [t.speaker, ms(t.start), ms(t.end)])).toEqual(
      meeting.turns.map((t) => [t.speaker, ms(t.start), ms(t.end)]),
    );
  });

  it('has two close voices: the same espeak voice at a small pitch change, 2-15% apart in f0', () => {
    const [c, d] = meeting.closePair;
    const vc = meeting.voices[c]!;
    const vd = meeting.voices[d]!;
    expect(vc.voice).toBe(vd.voice);
    expect(vc.speed).toBe(vd.speed);
    expect(Math.abs(vc.pitch - vd.pitch)).toBeGreaterThan(0);
    expect(Math.abs(vc.pitch - vd.pitch)).toBeLessThanOrEqual(10);

    // Measured on the audio: the pair is close in pitch, while the estimator sees
    // a plainly different voice (the female one) as plainly different.
    const f0c = medianF0(soloStretches(c));
    const f0d = medianF0(soloStretches(d));
    const ratio = Math.max(f0c, f0d) / Math.min(f0c, f0d);
    expect(ratio).toBeGreaterThan(1.02);
    expect(ratio).toBeLessThan(1.15);
    const female = Object.keys(meeting.voices).find((s) => meeting.voices[s]!.voice.includes('+f'));
    expect(female).toBeDefined();
    expect(medianF0(soloStretches(female!)) / Math.max(f0c, f0d)).toBeGreaterThan(1.4);
  });

  it('has turns as short as 0.7 s, each audible in the file between silent gaps', () => {
    const durations = reference.map((t) => t.end - t.start);
    const shortest = Math.min(...durations);
    expect(shortest).toBeGreaterThanOrEqual(0.65);
    expect(shortest).toBeLessThanOrEqual(0.75);
    const short = reference.filter((t) => t.end - t.start < 1);
    expect(short.length).toBeGreaterThanOrEqual(5);

    const floor = meanSquare(slice(audio48k, 0, reference[0]!.start - 0.02));
    for (const t of short) {
      // Speech, not noise, fills the short turn: at least 8 dB above the floor.
      expect(dbfs(meanSquare(slice(audio48k, t.start, t.end))) - dbfs(floor)).toBeGreaterThan(8);
      // And the turn is short in the file, not only in the RTTM: 50 ms before and
      // after it (when nobody else talks there) is at the noise floor.
      for (const [a, b] of [
        [t.start - 0.07, t.start - 0.02],
        [t.end + 0.02, t.end + 0.07],
      ] as const) {
        if (reference.some((r) => r.start < b && r.end > a)) continue;
        expect(Math.abs(dbfs(meanSquare(slice(audio48k, a, b))) - dbfs(floor))).toBeLessThan(2);
      }
    }
  });

  it('overlaps 10% of its speech time, never three at once, with the samples mixed', () => {
    const stretches = talkers(reference);
    const length = (c: (n: number) => boolean) =>
      stretches.filter((s) => c(s.count)).reduce((n, s) => n + s.end - s.start, 0);
    const speech = length((n) => n >= 1);
    const overlapped = length((n) => n >= 2);
    expect(overlapped / speech).toBeGreaterThan(0.095);
    expect(overlapped / speech).toBeLessThan(0.105);
    expect(length((n) => n >= 3)).toBe(0);
    const overlaps = stretches.filter((s) => s.count === 2);
    expect(overlaps.length).toBeGreaterThanOrEqual(5);
    // Each overlapping turn starts over the end of the previous one.
    for (const o of overlaps) {
      const pair = reference.filter((t) => t.start < o.end && t.end > o.start);
      expect(pair).toHaveLength(2);
      expect(reference.indexOf(pair[1]!)).toBe(reference.indexOf(pair[0]!) + 1);
      expect(o.end).toBeCloseTo(pair[0]!.end, 3);
    }
  });

  it('mixes both voices into every overlap: each correlates with its own turn spoken alone', async () => {
    const dir = makeTempDir('steno-hard-meeting-');
    try {
      for (const o of talkers(reference).filter((s) => s.count === 2)) {
        const [earlier, later] = meeting.turns.filter((t) => t.start < o.end && t.end > o.start);
        // Each turn is placed by its solo part (the earlier one's start, the later one's end).
        const a = await alignedAlone(earlier!, earlier!.start, earlier!.start + 0.5, dir);
        const b = await alignedAlone(later!, later!.end - 0.5, later!.end, dir);
        const mixed = slice(audio16k, o.start, o.end);
        const from = (clip: Float32Array, turn: MeetingTurn) =>
          clip.subarray(Math.round((o.start - turn.start) * 16000));
        // Written over instead of added, the earlier voice would correlate ~0.
        expect(correlation(mixed, from(a, earlier!))).toBeGreaterThan(0.3);
        expect(correlation(mixed, from(b, later!))).toBeGreaterThan(0.3);
      }
    } finally {
      removeTempDir(dir);
    }
  });

  it('has a noise floor at -35 dBFS over the whole file, and no clipping', () => {
    expect(meeting.noiseDbfs).toBe(-35);
    // Every silence, lead-in and tail included, 20 ms clear of the turns.
    const gaps = talkers(reference)
      .filter((s) => s.count === 0)
      .map((s) => ({ start: s.start + 0.02, end: s.end - 0.02 }));
    const last = Math.max(...reference.map((t) => t.end));
    gaps.unshift({ start: 0, end: reference[0]!.start - 0.02 });
    gaps.push({ start: last + 0.02, end: meeting.durationS });
    expect(gaps.length).toBeGreaterThan(15);
    let sum = 0;
    let n = 0;
    for (const g of gaps) {
      const x = slice(audio48k, g.start, g.end);
      // White noise at 22050 Hz upsampled to 48 kHz keeps its power (within the
      // resampler's roll-off near 11 kHz).
      expect(Math.abs(dbfs(meanSquare(x)) - -35)).toBeLessThan(1);
      sum += meanSquare(x) * x.length;
      n += x.length;
    }
    expect(Math.abs(dbfs(sum / n) - -35)).toBeLessThan(0.5);

    for (const audio of [audio48k, audio16k]) {
      let peak = 0;
      for (const v of audio.samples) peak = Math.max(peak, Math.abs(v));
      expect(peak).toBeLessThan(32767 / 32768);
      expect(audio.samples.length / audio.sampleRate).toBeCloseTo(meeting.durationS, 2);
    }
  });
});
