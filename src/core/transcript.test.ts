import { describe, expect, it } from 'vitest';
import { formatSegmentLine } from './transcript';

describe('formatSegmentLine', () => {
  const names = { speakerNames: { 1: 'Ada' } };
  it('gives the times, the speaker (named or numbered) and the text', () => {
    expect(
      formatSegmentLine(names, { id: 0, startS: 62.3, endS: 3725, text: 'Hello.', speaker: 1 }),
    ).toBe('[00:01:02.3 - 01:02:05.0] Ada: Hello.');
    expect(formatSegmentLine(names, { id: 0, startS: 0, endS: 1, text: 'Hi.', speaker: 0 })).toBe(
      '[00:00:00.0 - 00:00:01.0] Speaker 1: Hi.',
    );
  });

  it('shows a turn without words as someone speaking', () => {
    expect(formatSegmentLine(names, { id: 0, startS: 0, endS: 1, text: '', speaker: 2 })).toBe(
      '[00:00:00.0 - 00:00:01.0] Speaker 3: …',
    );
  });

  it('says where two voices overlap', () => {
    expect(
      formatSegmentLine(names, {
        id: 0,
        startS: 0,
        endS: 1,
        text: 'No, wait.',
        speaker: 1,
        overlap: true,
      }),
    ).toBe('[00:00:00.0 - 00:00:01.0] Ada (overlap): No, wait.');
  });
});
