/**
 * Latency of each spoken turn of a looped meeting, from the meeting's ground
 * truth: a turn is over when its speaker stops (turn k of loop n ends at
 * n * loopS + turn.end on the recording's clock), and its text has arrived
 * when the last final segment that holds it has.
 */

/** A turn of the meeting, seconds from the start of one playing of it. */
export interface SpokenTurn {
  start: number;
  end: number;
}

/** A final segment: its span on the recording's clock and when it arrived (s from capture start). */
export interface ArrivedSegment {
  startS: number;
  endS: number;
  arrivedS: number;
}

export interface TurnLatency {
  /** Which playing of the meeting (0 = the first). */
  loop: number;
  /** Index into the meeting's turns. */
  turn: number;
  /** When the turn ended, seconds on the recording's clock. */
  endS: number;
  /** Arrival of its last segment minus its end. */
  latencyS: number;
}

export interface TurnLatencies {
  /** One per turn that some segment holds, in order of their end. */
  latencies: TurnLatency[];
  /** Turns that ended within the recording and that no segment holds. */
  missed: { loop: number; turn: number; endS: number }[];
  /** Segments that overlap no turn at all (text out of silence). */
  unmatchedSegments: number;
  /** Segments that hold more than one turn (turns the VAD ran together). */
  multiTurnSegments: number;
}

const overlap = (a0: number, a1: number, b0: number, b1: number) =>
  Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

/**
 * A segment holds the turn it overlaps most (a turn the VAD split is held by
 * each of its pieces) and also every other turn it covers for at least half
 * of that turn's length (turns run together into one segment: their text came
 * with it, so their wait ended only when it arrived). Only turns that ended
 * by `recordedS` count; a turn cut off by the stop is not a whole turn.
 */
export function turnLatencies(
  turns: readonly SpokenTurn[],
  loopS: number,
  recordedS: number,
  segments: readonly ArrivedSegment[],
): TurnLatencies {
  // Capacity: one entry per turn held by a segment, at most the turns of the recording.
  const lastArrival = new Map<string, number>();
  let unmatchedSegments = 0;
  let multiTurnSegments = 0;
  for (const seg of segments) {
    let best: { key: string; overlapS: number } | null = null;
    // Capacity: the turns this one segment overlaps, a handful.
    const held = new Set<string>();
    const firstLoop = Math.max(0, Math.floor(seg.startS / loopS) - 1);
    const lastLoop = Math.floor(seg.endS / loopS);
    for (let loop = firstLoop; loop <= lastLoop; loop++) {
      for (const [k, t] of turns.entries()) {
        const start = loop * loopS + t.start;
        const end = loop * loopS + t.end;
        const o = overlap(seg.startS, seg.endS, start, end);
        if (o <= 0) continue;
        const key = `${loop}:${k}`;
        if (!best || o > best.overlapS) best = { key, overlapS: o };
        if (o >= 0.5 * (end - start)) held.add(key);
      }
    }
    if (!best) {
      unmatchedSegments++;
      continue;
    }
    held.add(best.key);
    if (held.size > 1) multiTurnSegments++;
    for (const key of held)
      lastArrival.set(key, Math.max(lastArrival.get(key) ?? -Infinity, seg.arrivedS));
  }
  const latencies: TurnLatency[] = [];
  const missed: TurnLatencies['missed'] = [];
  for (let loop = 0; loop * loopS < recordedS; loop++) {
    turns.forEach((t, turn) => {
      const endS = loop * loopS + t.end;
      if (endS > recordedS) return;
      const arrived = lastArrival.get(`${loop}:${turn}`);
      if (arrived === undefined) missed.push({ loop, turn, endS });
      else latencies.push({ loop, turn, endS, latencyS: arrived - endS });
    });
  }
  // Built turn by turn; a short turn spoken over a longer one ends before it.
  latencies.sort((a, b) => a.endS - b.endS);
  return { latencies, missed, unmatchedSegments, multiTurnSegments };
}
