/**
 * The model host's work: audio chunks in, final segments (text + speaker
 * embeddings) and partial hypotheses out.
 *
 *   chunk -> AudioWindow (uncommitted audio) -> VAD, 512-sample frames
 *         -> UtteranceSegmenter -> utterance queue -> Whisper + embeddings
 *         -> speaker changes (src/core/speaker-change.ts) -> one segment per
 *            speaker turn, Whisper's words divided by their timestamps
 *
 * Commit point: every sample before `committedSample` is accounted for: it is
 * silence, or part of an utterance whose segment was already sent. Main resends
 * from there after a crash of this process.
 *
 * Bounds: the window holds at most WINDOW_SECONDS of audio; a chunk is taken in
 * (and so acknowledged) only when it fits, so when Whisper falls behind the
 * host stops acknowledging and main stops sending. The utterance queue is
 * bounded by the window (an utterance's audio must be in it).
 */
import { AudioWindow } from '../core/audio-window';
import { DisposableStore } from '../core/lifecycle';
import { applyCmn, computeFbank, featuresWithin, type Features } from '../core/fbank';
import { HOST_SAMPLE_RATE, type HostPartial, type HostSegment } from '../core/host-protocol';
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
  type TimedToken,
  type VoiceActivity,
} from '../core/speaker-change';
import { UtteranceSegmenter, type UtteranceEvent } from '../core/utterance-segmenter';

/** Uncommitted audio the host may hold: 60 s (3.8 MB of float32). */
export const WINDOW_SECONDS = 60;
/**
 * Speaker features: Kaldi's defaults as the design asks (povey window), with
 * WeSpeaker's other settings (80 bins, 25/10 ms, pre-emphasis 0.97, CMN).
 * WeSpeaker's own training front end uses a hamming window; after CMN the two
 * give embeddings that cluster the same (the diarization benchmark scores
 * this setting).
 */
export const SPEAKER_FBANK = { window: 'povey' } as const;
/** A partial hypothesis is attempted when the open utterance grew by this much. */
const PARTIAL_STEP_SAMPLES = HOST_SAMPLE_RATE;
/**
 * Shortest speaker turn a change may leave (0.4 s): shorter pieces join their
 * neighbour. The shortest replies people give ("yes", "right") last about 0.5 s.
 */
const MIN_TURN_PIECE_S = 0.4;
/** A piece's own embedding is taken only from at least this much audio (the embedder repeats it to 0.5 s). */
const MIN_EMBEDDED_SAMPLES = Math.round(0.25 * HOST_SAMPLE_RATE);

export interface VadLike {
  readonly frameSamples: number;
  process(frame: Float32Array): Promise<number>;
}

export interface TranscriberLike {
  transcribe(
    samples: Float32Array,
    opts: { language?: string; maxTokens?: number; offsetMs?: number; noContext?: boolean },
  ): Promise<readonly { text: string; tokens?: readonly TimedToken[] }[]>;
}

export interface EmbedderLike {
  embed(features: { frames: number; dims: number; data: Float32Array }): Promise<Float32Array>;
}

export interface PipelineOptions {
  language: string;
  maxTokens: number;
  partials: boolean;
  /** Speaker-embedding window within long utterances, seconds (about 1.5). */
  embeddingWindowS: number;
  /** Cut utterances where the voice changes (default true). */
  speakerChanges?: boolean;
  /** Cosine below which two adjacent windows are two speakers; default DEFAULT_SPEAKER_CHANGE's. */
  speakerChangeThreshold?: number;
}

export interface PipelineSink {
  segment(segment: HostSegment, committedSample: number): void;
  partial(partial: HostPartial): void;
}

interface Utterance {
  startSample: number;
  endSample: number;
}

export class TranscriptionPipeline {
  private readonly window = new AudioWindow(WINDOW_SECONDS * HOST_SAMPLE_RATE);
  private readonly segmenter: UtteranceSegmenter;
  private readonly store = new DisposableStore();
  /** Utterances cut by the VAD, waiting for Whisper; bounded by the window. */
  private readonly queue: Utterance[] = [];
  private vadFrame: Float32Array;
  /** Next sample the VAD will look at. */
  private vadPosition = 0;
  private started = false;
  private working = false;
  private lastPartialEnd = 0;
  private committed = 0;
  private idleWaiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  /**
   * VAD probability of every frame in the window, by frame number (frames
   * since the first one seen): capacity one window of frames plus one, the
   * oldest overwritten, which is audio the window no longer holds either.
   */
  private readonly voiced: Float32Array;
  private vadOrigin = 0;
  private readonly change: SpeakerChangeConfig;

  constructor(
    private readonly vad: VadLike,
    private readonly whisper: TranscriberLike,
    private readonly embedder: EmbedderLike,
    private readonly options: PipelineOptions,
    private readonly sink: PipelineSink,
  ) {
    this.segmenter = this.store.add(new UtteranceSegmenter({ sampleRate: HOST_SAMPLE_RATE }));
    this.store.add(this.segmenter.onDidChangeUtterance((e) => this.onUtterance(e)));
    this.vadFrame = new Float32Array(vad.frameSamples);
    this.voiced = new Float32Array(
      Math.ceil((WINDOW_SECONDS * HOST_SAMPLE_RATE) / vad.frameSamples) + 1,
    );
    this.change = {
      ...DEFAULT_SPEAKER_CHANGE,
      sampleRate: HOST_SAMPLE_RATE,
      windowS: options.embeddingWindowS,
      threshold: options.speakerChangeThreshold ?? DEFAULT_SPEAKER_CHANGE.threshold,
    };
  }

  get committedSample(): number {
    return this.committed;
  }

  /**
   * Takes in a chunk that starts where the previous one ended (the first chunk
   * may start anywhere: after a restart it starts at the commit point). Resolves
   * when the chunk is in the window and through the VAD: then it may be acked.
   */
  async accept(startSample: number, samples: Float32Array): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.window.resetAt(startSample);
      this.vadPosition = startSample;
      this.vadOrigin = startSample;
      this.committed = startSample;
      this.lastPartialEnd = startSample;
    }
    if (startSample !== this.window.endSample) {
      throw new RangeError(
        `audio chunk starts at ${startSample}, expected ${this.window.endSample}`,
      );
    }
    while (this.window.freeSamples < samples.length) {
      // Backpressure: wait until Whisper commits utterances and frees room.
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    this.window.append(samples);
    await this.runVad();
    this.updateCommitted();
    this.kick();
  }

  /** Ends the stream at `endSample`; resolves when every utterance was sent. */
  async flush(endSample: number): Promise<void> {
    await this.runVad();
    this.segmenter.flush(Math.max(endSample, this.vadPosition));
    this.kick();
    while (this.working || this.queue.length > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    this.committed = Math.max(this.committed, this.window.endSample);
  }

  dispose(): void {
    this.store.dispose();
  }

  private async runVad(): Promise<void> {
    const n = this.vad.frameSamples;
    while (this.window.endSample - this.vadPosition >= n) {
      const frame = this.window.slice(this.vadPosition, this.vadPosition + n);
      this.vadFrame.set(frame);
      const p = await this.vad.process(this.vadFrame);
      this.voiced[((this.vadPosition - this.vadOrigin) / n) % this.voiced.length] = p;
      this.segmenter.push(p, this.vadPosition, n);
      this.vadPosition += n;
    }
  }

  private onUtterance(e: UtteranceEvent): void {
    if (e.type !== 'end') return;
    this.queue.push({ startSample: e.startSample, endSample: e.endSample });
  }

  /** The earliest sample still needed: queued, open, or future utterances. */
  private updateCommitted(): void {
    const needed = Math.min(
      this.queue[0]?.startSample ?? Infinity,
      this.segmenter.openUtteranceStart ?? Infinity,
      this.segmenter.retainFromSample,
      this.vadPosition,
    );
    if (needed > this.committed) this.committed = needed;
    this.window.dropBefore(this.committed);
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  private kick(): void {
    if (this.working) return;
    this.working = true;
    void this.work().finally(() => {
      this.working = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    });
  }

  private async work(): Promise<void> {
    for (;;) {
      const next = this.queue[0];
      if (next) {
        const segments = await this.transcribe(next);
        this.queue.shift();
        this.updateCommitted();
        // The commit point moves past the utterance only with its last turn:
        // a restart resends the utterance, and main drops the turns it has.
        for (const [i, segment] of segments.entries()) {
          this.sink.segment(segment, i === segments.length - 1 ? this.committed : next.startSample);
        }
        continue;
      }
      // Idle: maybe a partial of the utterance in progress. Only when nothing
      // final waits, so partials never delay a final segment by more than one
      // partial decode.
      const open = this.segmenter.openUtteranceStart;
      if (!this.options.partials || open === null) return;
      const end = this.window.endSample;
      if (end - Math.max(open, this.lastPartialEnd) < PARTIAL_STEP_SAMPLES) return;
      this.lastPartialEnd = end;
      const audio = this.window.slice(open, end);
      const result = await this.whisper.transcribe(audio, {
        language: this.options.language,
        maxTokens: this.options.maxTokens,
        noContext: true,
      });
      // The utterance may have ended meanwhile; a stale partial is dropped.
      if (this.segmenter.openUtteranceStart === open && this.queue.length === 0) {
        this.sink.partial({ startSample: open, endSample: end, text: joinText(result) });
      }
    }
  }

  /**
   * Whisper on the whole utterance, then speaker embeddings on sliding
   * windows, changes between them, and one segment per speaker turn with the
   * words whose timestamps fall in it.
   */
  private async transcribe(u: Utterance): Promise<HostSegment[]> {
    const audio = this.window.slice(u.startSample, u.endSample);
    const offsetMs = (u.startSample / HOST_SAMPLE_RATE) * 1000;
    const result = await this.whisper.transcribe(audio, {
      language: this.options.language,
      maxTokens: this.options.maxTokens,
      offsetMs,
      noContext: true,
    });
    const features = computeFbank(audio, SPEAKER_FBANK);
    if (this.options.speakerChanges === false) {
      // One person speaks: the utterance is one turn, embedded as before there were changes.
      return [
        {
          startSample: u.startSample,
          endSample: u.endSample,
          text: joinText(result),
          embeddings: await this.wholeUtteranceEmbeddings(features, audio.length),
          language: this.options.language,
          turns: 1,
          turn: 0,
        },
      ];
    }
    const plan = planChangeWindows(audio.length, this.change);
    // Capacity: the plan's windows, at most change.maxWindows.
    const windowEmbeddings: Float32Array[] = [];
    for (const w of plan.windows) windowEmbeddings.push(await this.embedSpan(features, w));
    const changes = pickChanges(
      scoreCandidates(plan, windowEmbeddings),
      this.change.threshold,
      Math.round(this.change.minTurnS * HOST_SAMPLE_RATE),
    );
    const activity = this.voiceActivity(u);
    const cuts = changes.map((at) => refineChange(at, plan.hop, activity));
    const pieces = piecesBetween(
      audio.length,
      cuts,
      Math.round(MIN_TURN_PIECE_S * HOST_SAMPLE_RATE),
    );
    let texts =
      pieces.length === 1
        ? [joinText(result)]
        : divideText(
            result.flatMap((r) => r.tokens ?? []),
            pieces,
            HOST_SAMPLE_RATE,
            offsetMs,
          );
    // No words anywhere: one wordless utterance (main drops it), not wordless turns.
    if (pieces.length > 1 && texts.every((t) => t === '')) {
      pieces.splice(0, pieces.length, { start: 0, end: audio.length });
      texts = [''];
    }
    const segments: HostSegment[] = [];
    for (const [i, piece] of pieces.entries()) {
      segments.push({
        startSample: u.startSample + piece.start,
        endSample: u.startSample + piece.end,
        text: texts[i]!,
        embeddings: await this.pieceEmbeddings(features, piece, plan.windows, windowEmbeddings),
        language: this.options.language,
        turns: pieces.length,
        turn: i,
      });
    }
    return segments;
  }

  /**
   * The embeddings a turn keeps: the windows inside it that do not overlap
   * (about one per embedding window, as the re-clustering at stop expects);
   * a turn shorter than a window gets one embedding of its own audio.
   */
  private async pieceEmbeddings(
    features: Features,
    piece: SampleSpan,
    windows: readonly SampleSpan[],
    windowEmbeddings: readonly Float32Array[],
  ): Promise<Float32Array[]> {
    const inside = disjointWindowsInside(windows, piece);
    if (inside.length > 0) return inside.map((i) => windowEmbeddings[i]!);
    if (piece.end - piece.start < MIN_EMBEDDED_SAMPLES) return [];
    return [await this.embedSpan(features, piece)];
  }

  /** One embedding per window of `embeddingWindowS`, a short tail joining the last. */
  private async wholeUtteranceEmbeddings(
    features: Features,
    length: number,
  ): Promise<Float32Array[]> {
    const window = Math.round(this.options.embeddingWindowS * HOST_SAMPLE_RATE);
    const count = Math.max(1, Math.floor(length / window));
    // Capacity: length / window, an utterance being at most the segmenter's 15 s.
    const out: Float32Array[] = [];
    for (let i = 0; i < count; i++) {
      const span = { start: i * window, end: i === count - 1 ? length : (i + 1) * window };
      if (span.end - span.start >= MIN_EMBEDDED_SAMPLES)
        out.push(await this.embedSpan(features, span));
    }
    return out;
  }

  private async embedSpan(features: Features, span: SampleSpan): Promise<Float32Array> {
    return this.embedder.embed(
      applyCmn(featuresWithin(features, span.start, span.end, SPEAKER_FBANK)),
    );
  }

  /** The VAD's probabilities over the utterance, one per frame from its first sample. */
  private voiceActivity(u: Utterance): VoiceActivity {
    const n = this.vad.frameSamples;
    const frames = Math.ceil((u.endSample - u.startSample) / n);
    const probabilities = new Float32Array(frames);
    for (let i = 0; i < frames; i++) {
      // The VAD frame holding the middle of this frame; 0 past what it has seen.
      const at = u.startSample + i * n + n / 2;
      const frame = Math.floor((at - this.vadOrigin) / n);
      const seen = frame >= 0 && this.vadOrigin + (frame + 1) * n <= this.vadPosition;
      probabilities[i] = seen ? this.voiced[frame % this.voiced.length]! : 0;
    }
    return { frameSamples: n, probabilities, pauseBelow: this.segmenter.continueThreshold };
  }
}

function joinText(segments: readonly { text: string }[]): string {
  return segments
    .map((s) => s.text)
    .join('')
    .trim();
}
