import { afterEach, describe, expect, it } from 'vitest';
import {
  UtteranceSegmenter,
  type UtteranceEvent,
  type UtteranceSegmenterOptions,
} from './utterance-segmenter';

/**
 * Defaults at 16 kHz with Silero's 512-sample (32 ms) frames:
 * pad 100 ms = 1600 samples; minSpeech 250 ms = 4000 samples, first reached
 * after 8 frames (4096); minSilence 500 ms = 8000 samples, first reached after
 * 16 frames (8192); max 15 s = 240000 samples; cut search 2 s = 32000 samples.
 */
const FRAME = 512;

interface Run {
  readonly segmenter: UtteranceSegmenter;
  readonly events: UtteranceEvent[];
  /** Index of the frame being pushed when each event fired. */
  readonly firedAtFrame: number[];
  /** Pushes probabilities as consecutive frames; returns the next frame's start. */
  feed(probabilities: readonly number[]): number;
  readonly position: () => number;
}

const created: UtteranceSegmenter[] = [];
afterEach(() => {
  for (const s of created.splice(0)) s.dispose();
});

function run(options: UtteranceSegmenterOptions = {}, firstSample = 0): Run {
  const segmenter = new UtteranceSegmenter(options);
  created.push(segmenter);
  const events: UtteranceEvent[] = [];
  const firedAtFrame: number[] = [];
  let next = firstSample;
  let frameIndex = 0;
  segmenter.onDidChangeUtterance((e) => {
    events.push(e);
    firedAtFrame.push(frameIndex);
  });
  return {
    segmenter,
    events,
    firedAtFrame,
    position: () => next,
    feed(probabilities) {
      for (const p of probabilities) {
        segmenter.push(p, next, FRAME);
        next += FRAME;
        frameIndex++;
      }
      return next;
    },
  };
}

const repeat = (p: number, frames: number): number[] => new Array<number>(frames).fill(p);

describe('UtteranceSegmenter', () => {
  it('reports nothing for silence and keeps only the padding before the next frame', () => {
    const r = run();
    r.feed(repeat(0.1, 50));
    expect(r.events).toEqual([]);
    expect(r.segmenter.openUtteranceStart).toBeNull();
    expect(r.segmenter.retainFromSample).toBe(50 * FRAME - 1600);
  });

  it('emits start after minSpeech and end after minSilence, with padded exact bounds', () => {
    const r = run();
    r.feed(repeat(0, 20)); // speech starts at frame 20 = sample 10240
    r.feed(repeat(0.9, 30)); // speech ends at frame 50 = sample 25600
    r.feed(repeat(0, 30));
    expect(r.events).toEqual([
      { type: 'start', startSample: 10240 - 1600 },
      { type: 'end', startSample: 10240 - 1600, endSample: 25600 + 1600 },
    ]);
    // start: on the 8th speech frame (frame 27), when 8 * 512 = 4096 >= 4000 samples.
    // end: on the 16th silent frame (frame 65), when 16 * 512 = 8192 >= 8000 samples.
    expect(r.firedAtFrame).toEqual([27, 65]);
  });

  it('exposes the open utterance start while it is a candidate and while it is announced', () => {
    const r = run();
    r.feed(repeat(0, 20));
    r.feed(repeat(0.9, 3));
    expect(r.events).toEqual([]); // still a candidate: not announced
    expect(r.segmenter.openUtteranceStart).toBe(8640);
    expect(r.segmenter.retainFromSample).toBe(8640);
    r.feed(repeat(0.9, 10));
    expect(r.events).toHaveLength(1);
    expect(r.segmenter.openUtteranceStart).toBe(8640);
    r.feed(repeat(0, 16));
    expect(r.events).toHaveLength(2);
    expect(r.segmenter.openUtteranceStart).toBeNull();
    // After an end, nothing before it is needed again.
    expect(r.segmenter.retainFromSample).toBe(r.position() - 1600);
  });

  describe('hysteresis', () => {
    it('does not start below the start threshold, however long', () => {
      const r = run();
      r.feed(repeat(0.49, 100));
      expect(r.events).toEqual([]);
      expect(r.segmenter.openUtteranceStart).toBeNull();
    });

    it('continues through frames between 0.35 and 0.5 once started', () => {
      const r = run();
      r.feed(repeat(0.9, 10)); // 0..5120, start clamped to the stream start
      r.feed(repeat(0.4, 20)); // still speech: ends at 30 * 512 = 15360
      r.feed(repeat(0.34, 20)); // a pause
      expect(r.events).toEqual([
        { type: 'start', startSample: 0 },
        { type: 'end', startSample: 0, endSample: 15360 + 1600 },
      ]);
    });

    it('needs the start threshold, not the continue threshold, to end a pause', () => {
      const r = run();
      r.feed(repeat(0.9, 10)); // speech ends at 5120
      r.feed(repeat(0.2, 5));
      r.feed(repeat(0.45, 20)); // >= 0.35 but < 0.5: the pause goes on
      expect(r.events).toEqual([
        { type: 'start', startSample: 0 },
        { type: 'end', startSample: 0, endSample: 5120 + 1600 },
      ]);
      // The end fired on the 16th frame of the pause (frame 25).
      expect(r.firedAtFrame).toEqual([7, 25]);
    });
  });

  describe('minSpeechMs', () => {
    it('drops a burst shorter than 250 ms', () => {
      const r = run();
      r.feed(repeat(0, 10));
      r.feed(repeat(0.95, 7)); // 3584 samples < 4000
      r.feed(repeat(0, 40));
      expect(r.events).toEqual([]);
      expect(r.segmenter.openUtteranceStart).toBeNull();
    });

    it('keeps a burst of 8 frames (4096 samples >= 4000)', () => {
      const r = run();
      r.feed(repeat(0, 10));
      r.feed(repeat(0.95, 8)); // 5120..9216
      r.feed(repeat(0, 40));
      expect(r.events).toEqual([
        { type: 'start', startSample: 5120 - 1600 },
        { type: 'end', startSample: 5120 - 1600, endSample: 9216 + 1600 },
      ]);
    });

    it('counts speech from its first to its last speech frame across short pauses', () => {
      const r = run();
      r.feed(repeat(0, 10));
      r.feed(repeat(0.9, 4)); // 5120..7168
      r.feed(repeat(0, 5)); // a 160 ms gap
      r.feed(repeat(0.9, 4)); // 9728..11776: 6656 samples from the first speech frame
      r.feed(repeat(0, 40));
      expect(r.events).toEqual([
        { type: 'start', startSample: 5120 - 1600 },
        { type: 'end', startSample: 5120 - 1600, endSample: 11776 + 1600 },
      ]);
      // Announced on the first frame of the second burst: (4 + 5 + 1) * 512 >= 4000.
      expect(r.firedAtFrame[0]).toBe(19);
    });
  });

  describe('minSilenceMs', () => {
    it('keeps one utterance across a pause of 15 frames (7680 samples < 8000)', () => {
      const r = run();
      r.feed(repeat(0, 10));
      r.feed(repeat(0.9, 20));
      r.feed(repeat(0.1, 15));
      r.feed(repeat(0.9, 20)); // ends at (10 + 20 + 15 + 20) * 512 = 33280
      r.feed(repeat(0.1, 20));
      expect(r.events).toEqual([
        { type: 'start', startSample: 5120 - 1600 },
        { type: 'end', startSample: 5120 - 1600, endSample: 33280 + 1600 },
      ]);
    });

    it('splits at a pause of 16 frames (8192 samples >= 8000)', () => {
      const r = run();
      r.feed(repeat(0, 10));
      r.feed(repeat(0.9, 20)); // 5120..15360
      r.feed(repeat(0.1, 16)); // 15360..23552
      r.feed(repeat(0.9, 20)); // 23552..33792
      r.feed(repeat(0.1, 20));
      expect(r.events).toEqual([
        { type: 'start', startSample: 3520 },
        { type: 'end', startSample: 3520, endSample: 16960 },
        { type: 'start', startSample: 23552 - 1600 },
        { type: 'end', startSample: 21952, endSample: 33792 + 1600 },
      ]);
    });
  });

  describe('speechPadMs clamping', () => {
    it('does not pad before the first sample of the stream', () => {
      const r = run({}, 100_000);
      r.feed(repeat(0.9, 10));
      r.feed(repeat(0, 20));
      expect(r.events).toEqual([
        { type: 'start', startSample: 100_000 },
        { type: 'end', startSample: 100_000, endSample: 100_000 + 5120 + 1600 },
      ]);
    });

    it('does not pad past the audio seen nor before the previous utterance ends', () => {
      // A pad (300 ms = 4800) longer than the silence that ends an utterance
      // (100 ms = 1600, reached after 4 frames = 2048 samples).
      const r = run({ speechPadMs: 300, minSilenceMs: 100 });
      r.feed(repeat(0.9, 20)); // 0..10240
      r.feed(repeat(0, 4)); // 10240..12288: ends here
      r.feed(repeat(0.9, 20)); // 12288..22528
      r.feed(repeat(0, 4));
      expect(r.events).toEqual([
        { type: 'start', startSample: 0 },
        { type: 'end', startSample: 0, endSample: 12288 }, // not 10240 + 4800
        { type: 'start', startSample: 12288 }, // not 12288 - 4800
        { type: 'end', startSample: 12288, endSample: 24576 },
      ]);
    });
  });

  describe('maxUtteranceMs', () => {
    it('cuts continuous confident speech exactly at the limit and continues without a gap', () => {
      const r = run();
      r.feed(repeat(0.9, 625)); // 20 s
      r.segmenter.flush(r.position());
      expect(r.events).toEqual([
        { type: 'start', startSample: 0 },
        { type: 'end', startSample: 0, endSample: 240_000 },
        { type: 'start', startSample: 240_000 },
        { type: 'end', startSample: 240_000, endSample: 320_000 },
      ]);
      // The cut happens on the first frame that ends past the limit: 469 * 512 = 240128.
      expect(r.firedAtFrame[1]).toBe(468);
    });

    it('cuts in the middle of the lowest-probability frame of the last 2 s', () => {
      const probabilities = repeat(0.9, 625);
      probabilities[100] = 0.01; // lowest overall, but not in the last 2 s
      probabilities[440] = 0.3;
      probabilities[450] = 0.2; // lowest in 208128..240128: frame 450 = 230400..230912
      probabilities[455] = 0.45;
      const r = run();
      r.feed(probabilities);
      expect(r.events.slice(0, 3)).toEqual([
        { type: 'start', startSample: 0 },
        { type: 'end', startSample: 0, endSample: 230_400 + 256 },
        { type: 'start', startSample: 230_656 },
      ]);
      expect(r.segmenter.openUtteranceStart).toBe(230_656);
    });

    it('cuts at the limit when the only dip is older than 2 s', () => {
      const probabilities = repeat(0.9, 500);
      probabilities[300] = 0.01;
      const r = run();
      r.feed(probabilities);
      expect(r.events[1]).toEqual({ type: 'end', startSample: 0, endSample: 240_000 });
    });

    it('ends normally when the cut falls in a pause that is still running', () => {
      const r = run();
      r.feed(repeat(0.9, 461)); // speech until 461 * 512 = 236032
      r.feed(repeat(0, 8)); // a 256 ms pause, too short to end it, reaches the limit
      expect(r.events).toEqual([
        { type: 'start', startSample: 0 },
        { type: 'end', startSample: 0, endSample: 236_032 + 1600 },
      ]);
      expect(r.segmenter.openUtteranceStart).toBeNull();
      // Speech right after starts a new candidate, padded only back to the end.
      r.feed(repeat(0.9, 10));
      expect(r.events[2]).toEqual({ type: 'start', startSample: 469 * 512 - 1600 });
    });

    it('never emits an utterance longer than the maximum', () => {
      // Pseudo-random speech with dips: every utterance must fit the limit.
      const r = run({ maxUtteranceMs: 3000 });
      let seed = 7;
      const random = (): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      r.feed(
        Array.from({ length: 3000 }, () =>
          random() < 0.1 ? random() * 0.5 : 0.6 + random() * 0.4,
        ),
      );
      r.segmenter.flush(r.position());
      const ends = r.events.filter((e) => e.type === 'end');
      expect(ends.length).toBeGreaterThan(20);
      let previousEnd = 0;
      for (const e of ends) {
        expect(e.endSample - e.startSample).toBeLessThanOrEqual(48_000);
        expect(e.endSample).toBeGreaterThan(e.startSample);
        expect(e.startSample).toBeGreaterThanOrEqual(previousEnd);
        previousEnd = e.endSample;
      }
    });
  });

  describe('flush', () => {
    it('ends an announced utterance at the end of the stream', () => {
      const r = run();
      r.feed(repeat(0, 10));
      r.feed(repeat(0.9, 20)); // speech to 15360
      r.segmenter.flush(15360 + 100); // pad clamped to the stream's end
      expect(r.events).toEqual([
        { type: 'start', startSample: 3520 },
        { type: 'end', startSample: 3520, endSample: 15460 },
      ]);
      expect(r.segmenter.openUtteranceStart).toBeNull();
    });

    it('pads up to speechPad when the stream goes on longer', () => {
      const r = run();
      r.feed(repeat(0.9, 20));
      r.feed(repeat(0, 3));
      r.segmenter.flush(r.position() + 300);
      expect(r.events[1]).toEqual({ type: 'end', startSample: 0, endSample: 10240 + 1600 });
    });

    it('drops a candidate that has too little speech', () => {
      const r = run();
      r.feed(repeat(0.9, 5));
      r.segmenter.flush(r.position());
      expect(r.events).toEqual([]);
      expect(r.segmenter.openUtteranceStart).toBeNull();
    });

    it('does nothing before any frame and rejects a position before the last frame', () => {
      const r = run();
      r.segmenter.flush(0);
      r.feed(repeat(0.9, 2));
      expect(() => r.segmenter.flush(100)).toThrow(RangeError);
    });
  });

  it('treats missing audio between frames as silence', () => {
    const r = run();
    r.feed(repeat(0.9, 20)); // speech to 10240
    r.segmenter.push(0.9, 10240 + 9000, FRAME); // a 9000-sample gap >= minSilence
    expect(r.events).toEqual([
      { type: 'start', startSample: 0 },
      { type: 'end', startSample: 0, endSample: 10240 + 1600 },
    ]);
    expect(r.segmenter.openUtteranceStart).toBe(19240 - 1600); // a new candidate
  });

  it('rejects bad input and bad options', () => {
    const r = run();
    expect(() => r.segmenter.push(Number.NaN, 0, FRAME)).toThrow(RangeError);
    expect(() => r.segmenter.push(1.5, 0, FRAME)).toThrow(RangeError);
    expect(() => r.segmenter.push(0.5, 0, 0)).toThrow(RangeError);
    r.segmenter.push(0.5, 0, FRAME);
    expect(() => r.segmenter.push(0.5, 100, FRAME)).toThrow(/overlap/);
    expect(() => new UtteranceSegmenter({ maxUtteranceMs: 500 })).toThrow(RangeError);
    expect(() => new UtteranceSegmenter({ startThreshold: 0.3, continueThreshold: 0.4 })).toThrow(
      RangeError,
    );
    expect(() => new UtteranceSegmenter({ speechPadMs: -1 })).toThrow(RangeError);
  });
});
