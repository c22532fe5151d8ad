/**
 * Diarization error rate, as NIST md-eval scores it.
 *
 * The timeline is cut at every turn boundary (of reference, hypothesis and, with
 * a collar, of the no-score zones). In each piece of duration d with N_ref
 * reference speakers and N_hyp hypothesis speakers talking:
 *   missed      += d · max(0, N_ref - N_hyp)
 *   falseAlarm  += d · max(0, N_hyp - N_ref)
 *   confusion   += d · (min(N_ref, N_hyp) - N_correct)
 *   total       += d · N_ref
 * where N_correct counts reference speakers whose mapped hypothesis speaker is
 * also talking. The mapping is one-to-one and maximizes the total time mapped
 * pairs talk together (Hungarian algorithm, any number of speakers).
 * DER = (missed + falseAlarm + confusion) / total. Overlapped speech is scored
 * (md-eval's default), and a speaker's own overlapping turns count once.
 *
 * In overlap (N_ref >= 2) the same formulas hold: a hypothesis that names one
 * speaker where two reference speakers talk misses one of them (d), and adds no
 * confusion when its speaker is mapped to either of the two, d of confusion
 * when it is mapped to neither. A labeller that names one speaker at a time
 * can therefore never score below `(overlap.total - overlap.duration) / total`;
 * `overlap` reports that part of the score separately.
 */
import { maxWeightAssignment } from './assignment';

/** A stretch of time, in seconds, in which `speaker` talks. */
export interface Turn {
  start: number;
  end: number;
  speaker: string;
}

export interface DerOptions {
  /**
   * Seconds on each side of every reference turn boundary left out of scoring
   * (md-eval's -c; 0.25 is the classic NIST setting). Default 0: score everything.
   */
  collar?: number;
}

export interface DerResult {
  /** (missed + falseAlarm + confusion) / total; 0 for empty input, Infinity if only the hypothesis speaks. */
  der: number;
  /** Speaker-seconds of reference speech with no hypothesis speaker. */
  missed: number;
  /** Speaker-seconds of hypothesis speech beyond the reference speakers. */
  falseAlarm: number;
  /** Speaker-seconds attributed to the wrong speaker. */
  confusion: number;
  /** Scored reference speaker-seconds. */
  total: number;
  /** Reference speaker -> hypothesis speaker of the optimal mapping. */
  mapping: ReadonlyMap<string, string>;
  /** The same sums over scored time in which two or more reference speakers talk. */
  overlap: DerOverlap;
}

export interface DerOverlap {
  /** Seconds (not speaker-seconds) in which two or more reference speakers talk. */
  duration: number;
  /** Reference speaker-seconds in those seconds. */
  total: number;
  missed: number;
  falseAlarm: number;
  confusion: number;
}

interface Piece {
  duration: number;
  ref: number[];
  hyp: number[];
}

function validate(turns: readonly Turn[], which: string): void {
  for (const t of turns) {
    if (!Number.isFinite(t.start) || !Number.isFinite(t.end) || t.end < t.start) {
      throw new RangeError(`${which} turn of ${t.speaker} has invalid times ${t.start}..${t.end}`);
    }
  }
}

/** Speaker name -> dense index, in order of first appearance. */
function indexSpeakers(turns: readonly Turn[]): Map<string, number> {
  const map = new Map<string, number>();
  for (const t of turns) if (!map.has(t.speaker)) map.set(t.speaker, map.size);
  return map;
}

/**
 * Sweeps the timeline once and returns the scored pieces with who talks in each.
 * Memory: O(turns) events and pieces.
 */
function cutTimeline(
  reference: readonly Turn[],
  hypothesis: readonly Turn[],
  refIndex: Map<string, number>,
  hypIndex: Map<string, number>,
  collar: number,
): Piece[] {
  // kind: 0 ref, 1 hyp, 2 no-score zone; delta +1 at a start, -1 at an end.
  const events: { time: number; kind: 0 | 1 | 2; who: number; delta: 1 | -1 }[] = [];
  for (const t of reference) {
    if (t.end <= t.start) continue;
    const who = refIndex.get(t.speaker)!;
    events.push(
      { time: t.start, kind: 0, who, delta: 1 },
      { time: t.end, kind: 0, who, delta: -1 },
    );
    if (collar > 0) {
      for (const b of [t.start, t.end]) {
        events.push(
          { time: b - collar, kind: 2, who: 0, delta: 1 },
          { time: b + collar, kind: 2, who: 0, delta: -1 },
        );
      }
    }
  }
  for (const t of hypothesis) {
    if (t.end <= t.start) continue;
    const who = hypIndex.get(t.speaker)!;
    events.push(
      { time: t.start, kind: 1, who, delta: 1 },
      { time: t.end, kind: 1, who, delta: -1 },
    );
  }
  events.sort((a, b) => a.time - b.time);

  const refCount = new Int32Array(refIndex.size);
  const hypCount = new Int32Array(hypIndex.size);
  let noScore = 0;
  const pieces: Piece[] = [];
  let i = 0;
  while (i < events.length) {
    const time = events[i]!.time;
    // Apply every event at this instant, then the piece runs to the next instant.
    for (; i < events.length && events[i]!.time === time; i++) {
      const e = events[i]!;
      if (e.kind === 0) refCount[e.who] = refCount[e.who]! + e.delta;
      else if (e.kind === 1) hypCount[e.who] = hypCount[e.who]! + e.delta;
      else noScore += e.delta;
    }
    if (i >= events.length) break;
    const duration = events[i]!.time - time;
    if (duration <= 0 || noScore > 0) continue;
    const ref: number[] = [];
    const hyp: number[] = [];
    for (let r = 0; r < refCount.length; r++) if (refCount[r]! > 0) ref.push(r);
    for (let h = 0; h < hypCount.length; h++) if (hypCount[h]! > 0) hyp.push(h);
    if (ref.length > 0 || hyp.length > 0) pieces.push({ duration, ref, hyp });
  }
  return pieces;
}

export function diarizationErrorRate(
  reference: readonly Turn[],
  hypothesis: readonly Turn[],
  opts: DerOptions = {},
): DerResult {
  const collar = opts.collar ?? 0;
  if (!(collar >= 0) || !Number.isFinite(collar)) throw new RangeError(`invalid collar ${collar}`);
  validate(reference, 'reference');
  validate(hypothesis, 'hypothesis');
  const refIndex = indexSpeakers(reference);
  const hypIndex = indexSpeakers(hypothesis);
  const pieces = cutTimeline(reference, hypothesis, refIndex, hypIndex, collar);

  // Time each reference speaker talks together with each hypothesis speaker.
  const coTalk: number[][] = Array.from({ length: refIndex.size }, () =>
    new Array<number>(hypIndex.size).fill(0),
  );
  for (const piece of pieces) {
    for (const r of piece.ref) {
      const row = coTalk[r]!;
      for (const h of piece.hyp) row[h] = row[h]! + piece.duration;
    }
  }
  const assigned = maxWeightAssignment(coTalk);

  let missed = 0;
  let falseAlarm = 0;
  let confusion = 0;
  let total = 0;
  const overlapped: DerOverlap = { duration: 0, total: 0, missed: 0, falseAlarm: 0, confusion: 0 };
  for (const piece of pieces) {
    const nRef = piece.ref.length;
    const nHyp = piece.hyp.length;
    let correct = 0;
    for (const r of piece.ref) {
      const h = assigned[r]!;
      if (h >= 0 && piece.hyp.includes(h)) correct++;
    }
    const d = piece.duration;
    total += d * nRef;
    missed += d * Math.max(0, nRef - nHyp);
    falseAlarm += d * Math.max(0, nHyp - nRef);
    confusion += d * (Math.min(nRef, nHyp) - correct);
    if (nRef >= 2) {
      overlapped.duration += d;
      overlapped.total += d * nRef;
      overlapped.missed += d * Math.max(0, nRef - nHyp);
      overlapped.falseAlarm += d * Math.max(0, nHyp - nRef);
      overlapped.confusion += d * (Math.min(nRef, nHyp) - correct);
    }
  }
  const errors = missed + falseAlarm + confusion;
  const der = total > 0 ? errors / total : errors > 0 ? Infinity : 0;

  const refNames = [...refIndex.keys()];
  const hypNames = [...hypIndex.keys()];
  const mapping = new Map<string, string>();
  assigned.forEach((h, r) => {
    // Only pairs that actually talked together count as mapped.
    if (h >= 0 && coTalk[r]![h]! > 0) mapping.set(refNames[r]!, hypNames[h]!);
  });
  return { der, missed, falseAlarm, confusion, total, mapping, overlap: overlapped };
}
