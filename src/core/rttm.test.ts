import { describe, expect, it } from 'vitest';
import { StenoError } from './errors';
import { formatRttm, parseRttm } from './rttm';

describe('RTTM', () => {
  it('parses SPEAKER records and skips everything else', () => {
    const text = [
      ';; a comment',
      '# another',
      'SPKR-INFO meeting 1 <NA> <NA> <NA> unknown alice <NA> <NA>',
      'SPEAKER meeting 1 0.50 2.25 <NA> <NA> alice <NA> <NA>',
      '',
      'SPEAKER\tmeeting  1   3.000 1.5 <NA> <NA> bob <NA> <NA>\r',
      'SPEAKER other 1 10 0 <NA> <NA> carol <NA>',
    ].join('\n');
    expect(parseRttm(text)).toEqual([
      { file: 'meeting', start: 0.5, end: 2.75, speaker: 'alice' },
      { file: 'meeting', start: 3, end: 4.5, speaker: 'bob' },
      { file: 'other', start: 10, end: 10, speaker: 'carol' },
    ]);
  });

  it('formats one SPEAKER line per turn', () => {
    const text = formatRttm(
      [
        { start: 0.5, end: 2.75, speaker: 'alice' },
        { start: 3, end: 4.5004, speaker: 'Bob Smith' },
      ],
      'rec-1',
    );
    expect(text).toBe(
      'SPEAKER rec-1 1 0.500 2.250 <NA> <NA> alice <NA> <NA>\n' +
        'SPEAKER rec-1 1 3.000 1.500 <NA> <NA> Bob_Smith <NA> <NA>\n',
    );
    expect(formatRttm([])).toBe('');
  });

  it('round-trips, keeping parsed file names unless one is given', () => {
    const turns = [
      { file: 'a', start: 1.25, end: 2.5, speaker: 's1' },
      { file: 'b', start: 7, end: 9.125, speaker: 's2' },
    ];
    expect(parseRttm(formatRttm(turns))).toEqual(turns);
    expect(parseRttm(formatRttm(turns, 'c')).map((t) => t.file)).toEqual(['c', 'c']);
    expect(formatRttm([{ start: 0, end: 1, speaker: 'x' }])).toMatch(/^SPEAKER audio 1 /);
  });

  it('reports the line of a malformed record', () => {
    const bad = 'SPEAKER m 1 0 1 <NA> <NA> a <NA> <NA>\nSPEAKER m 1 zero 1 <NA> <NA> b <NA> <NA>';
    expect(() => parseRttm(bad)).toThrow(StenoError);
    expect(() => parseRttm(bad)).toThrow(/Line 2/);
    expect(() => parseRttm('SPEAKER m 1 0 -1 <NA> <NA> a')).toThrow(/Line 1/);
    let error: unknown = null;
    try {
      parseRttm('SPEAKER m 1 0');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StenoError);
    expect((error as StenoError).code).toBe('INVALID_ARGUMENT');
    expect((error as StenoError).message).toMatch(/4 fields/);
  });
});
