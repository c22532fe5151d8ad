/**
 * Turns a stream of voice-activity probabilities (one per VAD frame) into
 * utterances: sample ranges worth sending to Whisper and the speaker model.
 *
 * Rules (defaults follow Silero's own `get_speech_timestamps`):
 * - Hysteresis. Speech starts on a frame with probability >= `startThreshold`
 *   (0.5) and continues while frames stay >= `continueThreshold` (0.35). A frame
 *   below 0.35 begins a pause, and only a frame >= 0.5 ends it. Two thresholds,
 *   because a single one flickers: probabilities hover around 0.5 in quiet
 *   syllables and breaths, which would chop words into pieces.
 * - `minSilenceMs` (500): a pause shorter than this does not end the utterance
 *   (gaps between words and sentences of one speaker stay together). The
 *   utterance ends where the pause began, plus padding.
 * - `minSpeechMs` (250): an utterance whose speech (first speech frame to the
 *   end of the last one) is shorter is dropped as a click, cough or noise. So
 *   `start` is announced only once an utterance has that much speech.
 * - `maxUtteranceMs` (15000): Whisper works on windows of at most 30 s and costs
 *   grow with length, so a longer utterance is cut at the frame with the lowest
 *   probability in its last `cutSearchMs` (2 s), if that frame is below
 *   `startThreshold` (a likely gap between words); with no such dip, exactly at
 *   the limit. The rest continues at once as a new utterance, without padding,
 *   so no audio is lost or repeated across the cut.
 * - `speechPadMs` (100): both ends are widened so soft onsets and word endings
 *   are not clipped, but never before the end of the previous utterance (or
 *   the stream's first sample), nor past the audio seen so far.
 *
 * Frames must arrive in order without overlap. A gap between frames counts as
 * silence. Positions are sample indices at `sampleRate` (exact integers in a
 * double up to 2^53 samples, far beyond any recording).
 *
 * Bounded state: a few numbers, plus a history of the last
 * HISTORY_CAPACITY_FRAMES (128) frames' probabilities for choosing a cut. That
 * covers the 2 s search window for frames of at least 16 ms (Silero's are
 * 32 ms); with smaller frames the search covers only the newest 128 frames.
 * When full, the oldest entry is overwritten. Events are delivered
 * synchronously; nothing is queued.
 */
import { Emitter, type Event } from './event';
import type { IDisposable } from './lifecycle';

export type UtteranceEvent =
  /** An utterance with enough speech began at `startSample` (final, padding included). */
  | { readonly type: 'start'; readonly startSample: number }
  /** The utterance ended: its final bounds, `endSample` exclusive. */
  | { readonly type: 'end'; readonly startSample: number; readonly endSample: number };

export interface UtteranceSegmenterOptions {
  /** Rate of the sample positions given and reported. Default 16000. */
  readonly sampleRate?: number;
  /** Probability at which speech starts (and a pause ends). Default 0.5. */
  readonly startThreshold?: number;
  /** Speech continues while the probability stays at or above this. Default 0.35. */
  readonly continueThreshold?: number;
  /** Utterances with less speech are dropped. Default 250. */
  readonly minSpeechMs?: number;
  /** A pause shorter than this does not end an utterance. Default 500. */
  readonly minSilenceMs?: number;
  /** Longer utterances are cut. Default 15000; at least 1000. */
  readonly maxUtteranceMs?: number;
  /** How far back from the limit a cut may be placed. Default 2000. */
  readonly cutSearchMs?: number;
  /** Padding added before and after the speech. Default 100. */
  readonly speechPadMs?: number;
}

/** Capacity of the probability history used to place cuts (see the file comment). */
export const HISTORY_CAPACITY_FRAMES = 128;

/** A fixed ring of the newest frames: probability, start and length. */
class FrameHistory {
  private readonly probability = new Float32Array(HISTORY_CAPACITY_FRAMES);
  private readonly start = new Float64Array(HISTORY_CAPACITY_FRAMES);
  private readonly length = new Float64Array(HISTORY_CAPACITY_FRAMES);
  private next = 0;
  private count = 0;

  push(probability: number, start: number, length: number): void {
    this.probability[this.next] = probability;
    this.start[this.next] = start;
    this.length[this.next] = length;
    this.next = (this.next + 1) % HISTORY_CAPACITY_FRAMES;
    this.count = Math.min(this.count + 1, HISTORY_CAPACITY_FRAMES);
  }

  /** Calls `visit` from the newest frame to the oldest until it returns false. */
  visitNewestFirst(visit: (probability: number, start: number, length: number) => boolean): void {
    for (let k = 1; k <= this.count; k++) {
      const i = (this.next - k + HISTORY_CAPACITY_FRAMES) % HISTORY_CAPACITY_FRAMES;
      if (!visit(this.probability[i] ?? 0, this.start[i] ?? 0, this.length[i] ?? 0)) return;
    }
  }
}

type Phase =
  /** No utterance open. */
  | 'silence'
  /** Speech began but has less than minSpeech so far: not announced, may be dropped. */
  | 'candidate'
  /** Announced with a `start` event; will end with an `end` event. */
  | 'speech';

function msToSamples(ms: number, sampleRate: number): number {
  return Math.round((ms * sampleRate) / 1000);
}

function checkNonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  return value;
}

export class UtteranceSegmenter implements IDisposable {
  readonly sampleRate: number;
  readonly startThreshold: number;
  readonly continueThreshold: number;
  private readonly minSpeechSamples: number;
  private readonly minSilenceSamples: number;
  private readonly maxUtteranceSamples: number;
  private readonly cutSearchSamples: number;
  private readonly padSamples: number;

  private readonly onDidChangeUtteranceEmitter = new Emitter<UtteranceEvent>();
  /** `start` and `end` of utterances, synchronously from `push` and `flush`. */
  readonly onDidChangeUtterance: Event<UtteranceEvent> = this.onDidChangeUtteranceEmitter.event;

  private readonly history = new FrameHistory();
  private phase: Phase = 'silence';
  /** End of the last frame seen; null before the first. */
  private position: number | null = null;
  /** No utterance may start before this: the stream's first sample, then the last utterance's end. */
  private boundary = 0;
  // The open utterance (meaningful unless phase is 'silence'):
  /** Its first sample, padding included. */
  private startSample = 0;
  /** Start of its first speech frame (or of the cut that began it). */
  private speechStart = 0;
  /** End of its last frame counted as speech. */
  private lastSpeechEnd = 0;
  /** A pause is running since `lastSpeechEnd`. */
  private inPause = false;

  constructor(options: UtteranceSegmenterOptions = {}) {
    this.sampleRate = options.sampleRate ?? 16_000;
    if (!Number.isInteger(this.sampleRate) || this.sampleRate <= 0) {
      throw new RangeError(`sampleRate must be a positive integer, got ${this.sampleRate}`);
    }
    this.startThreshold = options.startThreshold ?? 0.5;
    this.continueThreshold = options.continueThreshold ?? 0.35;
    if (!(
      this.continueThreshold > 0 &&
      this.continueThreshold <= this.startThreshold &&
      this.startThreshold <= 1
    )) {
      throw new RangeError('thresholds must satisfy 0 < continueThreshold <= startThreshold <= 1');
    }
    const samples = (name: string, ms: number): number =>
      msToSamples(checkNonNegative(name, ms), this.sampleRate);
    this.minSpeechSamples = samples('minSpeechMs', options.minSpeechMs ?? 250);
    this.minSilenceSamples = samples('minSilenceMs', options.minSilenceMs ?? 500);
    this.cutSearchSamples = samples('cutSearchMs', options.cutSearchMs ?? 2000);
    this.padSamples = samples('speechPadMs', options.speechPadMs ?? 100);
    const maxMs = options.maxUtteranceMs ?? 15_000;
    if (!(maxMs >= 1000))
      throw new RangeError(`maxUtteranceMs must be at least 1000, got ${maxMs}`);
    this.maxUtteranceSamples = msToSamples(maxMs, this.sampleRate);
  }

  /**
   * First sample of the utterance in progress (announced or still a
   * candidate), or null when none is open. Audio from here on may still become
   * part of an utterance.
   */
  get openUtteranceStart(): number | null {
    return this.phase === 'silence' ? null : this.startSample;
  }

  /**
   * The earliest sample any current or future utterance can include: the host
   * may discard audio before it (once emitted utterances are taken care of).
   * With nothing open, that is the padding before the next frame.
   */
  get retainFromSample(): number {
    if (this.phase !== 'silence') return this.startSample;
    if (this.position === null) return 0;
    return Math.max(this.boundary, this.position - this.padSamples);
  }

  /**
   * One VAD frame: its speech probability and where it lies in the stream.
   * Emits at most an `end` and a `start`.
   */
  push(probability: number, frameStartSample: number, frameSamples: number): void {
    if (!(probability >= 0 && probability <= 1)) {
      throw new RangeError(`probability must be within 0..1, got ${probability}`);
    }
    if (!Number.isSafeInteger(frameStartSample) || frameStartSample < 0) {
      throw new RangeError(
        `frameStartSample must be a non-negative integer, got ${frameStartSample}`,
      );
    }
    if (!Number.isSafeInteger(frameSamples) || frameSamples <= 0) {
      throw new RangeError(`frameSamples must be a positive integer, got ${frameSamples}`);
    }
    if (this.position === null) {
      this.boundary = frameStartSample;
    } else if (frameStartSample < this.position) {
      throw new RangeError(
        `frames overlap: frame starts at ${frameStartSample}, previous ended at ${this.position}`,
      );
    } else if (frameStartSample > this.position && this.phase !== 'silence') {
      // Missing audio counts as silence; it may be long enough to end the utterance.
      this.inPause = true;
      if (frameStartSample - this.lastSpeechEnd >= this.minSilenceSamples)
        this.close(frameStartSample);
    }
    const frameEnd = frameStartSample + frameSamples;
    this.position = frameEnd;
    this.history.push(probability, frameStartSample, frameSamples);

    if (this.phase === 'silence') {
      if (probability >= this.startThreshold) {
        this.phase = 'candidate';
        this.startSample = Math.max(frameStartSample - this.padSamples, this.boundary);
        this.speechStart = frameStartSample;
        this.lastSpeechEnd = frameEnd;
        this.inPause = false;
      }
    } else if (this.inPause) {
      if (probability >= this.startThreshold) {
        this.inPause = false;
        this.lastSpeechEnd = frameEnd;
      } else if (frameEnd - this.lastSpeechEnd >= this.minSilenceSamples) {
        this.close(frameEnd);
      }
    } else if (probability >= this.continueThreshold) {
      this.lastSpeechEnd = frameEnd;
    } else {
      this.inPause = true;
      if (frameEnd - this.lastSpeechEnd >= this.minSilenceSamples) this.close(frameEnd);
    }

    if (
      this.phase === 'candidate' &&
      this.lastSpeechEnd - this.speechStart >= this.minSpeechSamples
    ) {
      this.phase = 'speech';
      this.onDidChangeUtteranceEmitter.fire({ type: 'start', startSample: this.startSample });
    }
    // Each cut moves startSample forward or closes the utterance, so this ends.
    while (this.phase === 'speech' && frameEnd - this.startSample > this.maxUtteranceSamples) {
      this.cut(frameEnd);
    }
  }

  /**
   * End of stream at `atSample` (at or after the last frame's end): ends the
   * open utterance, or drops it if it has too little speech.
   */
  flush(atSample: number): void {
    if (!Number.isSafeInteger(atSample) || (this.position !== null && atSample < this.position)) {
      throw new RangeError(
        `flush(${atSample}) must be an integer at or after the last frame's end (${this.position})`,
      );
    }
    if (this.position === null) return;
    this.position = atSample;
    if (this.phase !== 'silence') this.close(atSample);
  }

  dispose(): void {
    this.onDidChangeUtteranceEmitter.dispose();
  }

  /** Ends the open utterance: announced ones get an `end`, candidates are dropped. */
  private close(notAfter: number): void {
    if (this.phase === 'speech') {
      const endSample = Math.min(this.lastSpeechEnd + this.padSamples, notAfter);
      this.boundary = endSample;
      this.phase = 'silence';
      this.onDidChangeUtteranceEmitter.fire({
        type: 'end',
        startSample: this.startSample,
        endSample,
      });
    } else {
      this.phase = 'silence';
    }
    this.inPause = false;
  }

  /** The open utterance reached the maximum length at `frameEnd`: cut it. */
  private cut(frameEnd: number): void {
    const limit = this.startSample + this.maxUtteranceSamples;
    const searchFrom = Math.max(frameEnd - this.cutSearchSamples, this.speechStart);
    let lowest = Infinity;
    let lowestCut = limit;
    this.history.visitNewestFirst((probability, start, length) => {
      if (start < searchFrom) return false;
      // Cut in the middle of the quietest frame: half its audio on each side.
      const at = start + Math.floor(length / 2);
      if (at > this.startSample && at <= limit && probability < lowest) {
        lowest = probability;
        lowestCut = at;
      }
      return true;
    });
    const cutAt = lowest < this.startThreshold ? lowestCut : limit;
    if (cutAt >= this.lastSpeechEnd) {
      // The cut falls in the pause that is running: nothing spoken follows it,
      // so this is an ordinary end (padding clamped to the limit).
      this.close(limit);
      return;
    }
    const startSample = this.startSample;
    this.boundary = cutAt;
    this.startSample = cutAt;
    this.speechStart = cutAt;
    this.onDidChangeUtteranceEmitter.fire({ type: 'end', startSample, endSample: cutAt });
    this.onDidChangeUtteranceEmitter.fire({ type: 'start', startSample: cutAt });
  }
}
