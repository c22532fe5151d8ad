import { describe, expect, it } from 'vitest';
import { turnLatencies, type ArrivedSegment, type SpokenTurn } from './turn-latency';

/** One playing of a small meeting: four turns with silence between them. */
const TURNS: SpokenTurn[] = [
  { start: 1, end: 4 },
  { start: 5, end: 7 },
  { start: 9, end: 13 },
  { start: 15, end: 18 },
];
/** Not a whole number, so that a turn of loop n placed at n * 20 (or anywhere else) shows. */
const LOOP_S = 20.5;

const seg = (startS: number, endS: number, arrivedS: number): ArrivedSegment => ({
  startS,
  endS,
  arrivedS,
});

/** Each turn of the first loop held by one segment of its own, arriving 1 s after the turn ends. */
const ONE_EACH = TURNS.map((t) => seg(t.start, t.end, t.end + 1));

describe('turnLatencies', () => {
  it('a turn split over two segments waits for the later of the two to arrive', () => {
    const segments = [seg(1, 2.4, 3.1), seg(2.6, 4, 5.25), ...ONE_EACH.slice(1)];
    const r = turnLatencies(TURNS, LOOP_S, 19, segments);
    expect(r.latencies[0]).toEqual({ loop: 0, turn: 0, endS: 4, latencyS: 1.25 });
    expect(r.multiTurnSegments).toBe(0);
    expect(r.unmatchedSegments).toBe(0);
    // The later arrival counts, not the segment listed last.
    const swapped = turnLatencies(TURNS, LOOP_S, 19, [segments[1]!, segments[0]!]);
    expect(swapped.latencies[0]).toEqual({ loop: 0, turn: 0, endS: 4, latencyS: 1.25 });
  });

  it('two turns the VAD ran together are both held by the one segment', () => {
    const together = seg(5, 13, 14.5);
    const r = turnLatencies(TURNS, LOOP_S, 19, [ONE_EACH[0]!, together, ONE_EACH[3]!]);
    expect(r.latencies).toEqual([
      { loop: 0, turn: 0, endS: 4, latencyS: 1 },
      // The shorter turn, though not the one it overlaps most, waited for it too.
      { loop: 0, turn: 1, endS: 7, latencyS: 7.5 },
      { loop: 0, turn: 2, endS: 13, latencyS: 1.5 },
      { loop: 0, turn: 3, endS: 18, latencyS: 1 },
    ]);
    expect(r.multiTurnSegments).toBe(1);
    expect(r.missed).toEqual([]);
  });

  describe('a segment holds another turn when it covers at least half of it', () => {
    // Turn 1 (5-7 s, 2 s long) has a segment of its own for its start, arriving at 8 s;
    // the segment of turn 2 (9-13 s) reaches back into turn 1 and arrives at 15 s.
    const latencyOfTurn1 = (reachBackTo: number) => {
      const r = turnLatencies(TURNS, LOOP_S, 19, [seg(5, 5.5, 8), seg(reachBackTo, 13, 15)]);
      const turn1 = r.latencies.find((l) => l.turn === 1)!;
      return { latencyS: turn1.latencyS, multiTurnSegments: r.multiTurnSegments };
    };

    it('just under half (0.99 of 2 s): not held, the turn waited only for its own segment', () => {
      expect(latencyOfTurn1(6.01)).toEqual({ latencyS: 1, multiTurnSegments: 0 });
    });

    it('exactly half: held', () => {
      expect(latencyOfTurn1(6)).toEqual({ latencyS: 8, multiTurnSegments: 1 });
    });

    it('just over half (1.01 of 2 s): held, the turn waited for the later segment', () => {
      expect(latencyOfTurn1(5.99)).toEqual({ latencyS: 8, multiTurnSegments: 1 });
    });
  });

  it('turn k of loop n ends at n * loopS + its end, across a loop boundary too', () => {
    const recordedS = 2 * LOOP_S + 5; // into the third playing: its first turn is whole
    const segments = [
      ...ONE_EACH.slice(0, 3),
      // The last turn of loop 0 and the first of loop 1 run together over the boundary.
      seg(15, LOOP_S + 4, LOOP_S + 6),
      seg(LOOP_S + 5, LOOP_S + 7, LOOP_S + 8),
      seg(LOOP_S + 9, LOOP_S + 13, LOOP_S + 13.5),
      seg(LOOP_S + 15, LOOP_S + 18, LOOP_S + 19),
      seg(2 * LOOP_S + 1, 2 * LOOP_S + 4, 2 * LOOP_S + 4.75),
    ];
    const r = turnLatencies(TURNS, LOOP_S, recordedS, segments);
    expect(r.latencies).toEqual([
      { loop: 0, turn: 0, endS: 4, latencyS: 1 },
      { loop: 0, turn: 1, endS: 7, latencyS: 1 },
      { loop: 0, turn: 2, endS: 13, latencyS: 1 },
      { loop: 0, turn: 3, endS: 18, latencyS: 8.5 },
      { loop: 1, turn: 0, endS: 24.5, latencyS: 2 },
      { loop: 1, turn: 1, endS: 27.5, latencyS: 1 },
      { loop: 1, turn: 2, endS: 33.5, latencyS: 0.5 },
      { loop: 1, turn: 3, endS: 38.5, latencyS: 1 },
      { loop: 2, turn: 0, endS: 45, latencyS: 0.75 },
    ]);
    expect(r.multiTurnSegments).toBe(1);
    expect(r.missed).toEqual([]);
  });

  it('a turn no segment holds is missed, even when a segment of another turn grazes it', () => {
    // 0.5 s of turn 2 (4 s long) lies in the segment that holds turn 3.
    const segments = [ONE_EACH[0]!, ONE_EACH[1]!, seg(12.5, 18, 19)];
    const r = turnLatencies(TURNS, LOOP_S, 19, segments);
    expect(r.missed).toEqual([{ loop: 0, turn: 2, endS: 13 }]);
    expect(r.latencies.map((l) => l.turn)).toEqual([0, 1, 3]);
    expect(r.unmatchedSegments).toBe(0);
  });

  it('a segment over silence matches no turn and is counted as unmatched', () => {
    // One inside the gap between turns 1 and 2, one touching turns 0 and 1 only at their edges.
    const segments = [...ONE_EACH, seg(7.5, 8.5, 9), seg(4, 5, 6)];
    const r = turnLatencies(TURNS, LOOP_S, 19, segments);
    expect(r.unmatchedSegments).toBe(2);
    expect(r.latencies.map((l) => l.latencyS)).toEqual([1, 1, 1, 1]);
    expect(r.multiTurnSegments).toBe(0);
  });

  it('a turn the stop cut off is neither missed nor measured; one that ended at the stop is', () => {
    // Stopped at 11 s, inside turn 2: turns 2 and 3 never ended within the recording.
    const cut = turnLatencies(TURNS, LOOP_S, 11, [ONE_EACH[0]!, ONE_EACH[1]!, seg(9, 11, 12)]);
    expect(cut.latencies.map((l) => l.turn)).toEqual([0, 1]);
    expect(cut.missed).toEqual([]);
    expect(cut.unmatchedSegments).toBe(0);
    // Stopped exactly as turn 2 ended: it is whole, and with no segment it is missed.
    const atEnd = turnLatencies(TURNS, LOOP_S, 13, [ONE_EACH[0]!, ONE_EACH[1]!]);
    expect(atEnd.missed).toEqual([{ loop: 0, turn: 2, endS: 13 }]);
    // Stopped just after the next playing began: its first turn is cut off, not missed.
    const nextLoop = turnLatencies(TURNS, LOOP_S, LOOP_S + 2, ONE_EACH);
    expect(nextLoop.latencies).toHaveLength(4);
    expect(nextLoop.missed).toEqual([]);
  });

  it('lists latencies in order of their end when a short turn ends inside a longer one', () => {
    const nested: SpokenTurn[] = [
      { start: 1, end: 6 },
      { start: 2, end: 3 },
    ];
    // Overlapped speech: one segment holds both turns.
    const r = turnLatencies(nested, 10, 9, [seg(1, 6, 7)]);
    expect(r.latencies).toEqual([
      { loop: 0, turn: 1, endS: 3, latencyS: 4 },
      { loop: 0, turn: 0, endS: 6, latencyS: 1 },
    ]);
  });
});
