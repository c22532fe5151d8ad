import { describe, expect, it } from 'vitest';
import { diarizationErrorRate, type Turn } from './der';

const turn = (speaker: string, start: number, end: number): Turn => ({ speaker, start, end });

describe('diarizationErrorRate', () => {
  const reference = [turn('A', 0, 10), turn('B', 10, 20), turn('A', 20, 25)];

  it('is 0 for a perfect hypothesis', () => {
    const r = diarizationErrorRate(reference, reference);
    expect(r).toMatchObject({ der: 0, missed: 0, falseAlarm: 0, confusion: 0, total: 25 });
  });

  it('is 1 when everything is missed', () => {
    const r = diarizationErrorRate(reference, []);
    expect(r).toMatchObject({ der: 1, missed: 25, falseAlarm: 0, confusion: 0, total: 25 });
  });

  it('is 0 when only the labels differ, and maps them', () => {
    const hyp = [turn('spk1', 0, 10), turn('spk0', 10, 20), turn('spk1', 20, 25)];
    const r = diarizationErrorRate(reference, hyp);
    expect(r.der).toBe(0);
    expect([...r.mapping]).toEqual([
      ['A', 'spk1'],
      ['B', 'spk0'],
    ]);
  });

  it('counts a late speaker change as confusion', () => {
    // The hypothesis switches 2 s late: 10..12 is B's speech labelled as A's speaker.
    const ref = [turn('A', 0, 10), turn('B', 10, 20)];
    const hyp = [turn('X', 0, 12), turn('Y', 12, 20)];
    const r = diarizationErrorRate(ref, hyp);
    expect(r.confusion).toBeCloseTo(2, 12);
    expect(r.missed).toBe(0);
    expect(r.falseAlarm).toBe(0);
    expect(r.total).toBe(20);
    expect(r.der).toBeCloseTo(0.1, 12);
  });

  it('scores overlapped speech: a single-speaker hypothesis misses one of two', () => {
    // 0..5 A, 5..10 A+B, 10..15 B; the hypothesis hears one voice throughout.
    // total = 5 + 2·5 + 5 = 20; missed 5 (overlap); X maps to A or B (a tie), so
    // the other one's solo 5 s is confusion either way.
    const r = diarizationErrorRate([turn('A', 0, 10), turn('B', 5, 15)], [turn('X', 0, 15)]);
    expect(r).toMatchObject({ missed: 5, falseAlarm: 0, confusion: 5, total: 20, der: 0.5 });
  });

  it('reports the overlap part: a one-speaker hypothesis mapped to either talker misses one', () => {
    // 0..5 A, 5..10 A+B, 10..15 B; the hypothesis is right except in the overlap,
    // where it names A only: 5 s missed (B), no confusion (X is A's speaker).
    const ref = [turn('A', 0, 10), turn('B', 5, 15)];
    const r = diarizationErrorRate(ref, [turn('X', 0, 10), turn('Y', 10, 15)]);
    expect(r.overlap).toEqual({ duration: 5, total: 10, missed: 5, falseAlarm: 0, confusion: 0 });
    expect(r).toMatchObject({ missed: 5, falseAlarm: 0, confusion: 0, total: 20, der: 0.25 });
    // The floor of any one-speaker-at-a-time hypothesis is reached here.
    expect((r.overlap.total - r.overlap.duration) / r.total).toBe(r.der);
  });

  it('counts confusion in overlap when the one named speaker is neither talker', () => {
    // C talks alone at 15..20; the hypothesis gives C's speaker Z to the A+B overlap.
    const ref = [turn('A', 0, 10), turn('B', 5, 15), turn('C', 15, 20)];
    const hyp = [turn('X', 0, 5), turn('Z', 5, 10), turn('Y', 10, 15), turn('Z', 15, 20)];
    const r = diarizationErrorRate(ref, hyp);
    expect(r.mapping.get('C')).toBe('Z');
    expect(r.overlap).toEqual({ duration: 5, total: 10, missed: 5, falseAlarm: 0, confusion: 5 });
    expect(r).toMatchObject({ missed: 5, falseAlarm: 0, confusion: 5, total: 25 });
  });

  it('counts a second hypothesis speaker outside overlap as false alarm, not overlap', () => {
    const r = diarizationErrorRate([turn('A', 0, 10)], [turn('X', 0, 10), turn('Y', 2, 4)]);
    expect(r.overlap).toEqual({ duration: 0, total: 0, missed: 0, falseAlarm: 0, confusion: 0 });
    expect(r.falseAlarm).toBe(2);
  });

  it('leaves the collar out of the overlap part too', () => {
    const ref = [turn('A', 0, 10), turn('B', 5, 15)];
    const r = diarizationErrorRate(ref, ref, { collar: 0.25 });
    expect(r.overlap.duration).toBeCloseTo(4.5, 12);
    expect(r.overlap.total).toBeCloseTo(9, 12);
    expect(r.der).toBe(0);
  });

  it('counts an extra hypothesis speaker as false alarm', () => {
    const r = diarizationErrorRate([turn('A', 0, 10)], [turn('X', 0, 10), turn('Y', 8, 12)]);
    expect(r.falseAlarm).toBeCloseTo(4, 12);
    expect(r.der).toBeCloseTo(0.4, 12);
    expect(r.mapping.get('A')).toBe('X');
  });

  it('uses the optimal mapping, not a greedy one', () => {
    // Overlaps: A-X 10, A-Y 9, B-X 9. Greedy (A-X first) leaves 18 s wrong; the
    // optimal mapping A-Y, B-X leaves 10 s wrong.
    const ref = [turn('A', 0, 19), turn('B', 19, 28)];
    const hyp = [turn('X', 0, 10), turn('Y', 10, 19), turn('X', 19, 28)];
    const r = diarizationErrorRate(ref, hyp);
    expect(r.confusion).toBeCloseTo(10, 12);
    expect(r.der).toBeCloseTo(10 / 28, 12);
    expect(r.mapping.get('A')).toBe('Y');
    expect(r.mapping.get('B')).toBe('X');
  });

  it('counts a speaker’s own overlapping turns once', () => {
    const r = diarizationErrorRate([turn('A', 0, 10), turn('A', 5, 15)], [turn('X', 0, 15)]);
    expect(r).toMatchObject({ der: 0, total: 15 });
  });

  it('skips a collar around reference boundaries when asked', () => {
    const ref = [turn('A', 0, 10), turn('B', 10, 20)];
    const hyp = [turn('X', 0, 10.2), turn('Y', 10.2, 20)];
    expect(diarizationErrorRate(ref, hyp).der).toBeCloseTo(0.2 / 20, 12);
    const r = diarizationErrorRate(ref, hyp, { collar: 0.25 });
    expect(r.der).toBe(0);
    // Scored: 20 s minus 0.25 at 0, 0.5 around 10, 0.25 at 20.
    expect(r.total).toBeCloseTo(19, 12);
  });

  it('handles empty and hypothesis-only input', () => {
    expect(diarizationErrorRate([], []).der).toBe(0);
    const r = diarizationErrorRate([], [turn('X', 0, 3)]);
    expect(r.falseAlarm).toBe(3);
    expect(r.der).toBe(Infinity);
  });

  it('ignores zero-length turns and rejects reversed or non-finite ones', () => {
    expect(diarizationErrorRate([turn('A', 0, 5), turn('B', 5, 5)], [turn('X', 0, 5)]).der).toBe(0);
    expect(() => diarizationErrorRate([turn('A', 5, 4)], [])).toThrow(RangeError);
    expect(() => diarizationErrorRate([], [turn('A', 0, NaN)])).toThrow(RangeError);
    expect(() => diarizationErrorRate([], [], { collar: -1 })).toThrow(RangeError);
  });
});
