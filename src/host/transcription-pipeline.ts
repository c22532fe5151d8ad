/**
 * The model host's work: audio chunks in, final segments (text + speaker
 * embeddings) and partial hypotheses out.
 *
 *   chunk -> AudioWindow (uncommitted audio) -> VAD, 512-sample frames
 *         -> UtteranceSegmenter -> utterance queue -> Whisper + embeddings
 *         -> segment
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
import { applyCmn, computeFbank } from '../core/fbank';
import { HOST_SAMPLE_RATE, type HostPartial, type HostSegment } from '../core/host-protocol';
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
const SPEAKER_FBANK = { window: 'povey' } as const;
/** A partial hypothesis is attempted when the open utterance grew by this much. */
const PARTIAL_STEP_SAMPLES = HOST_SAMPLE_RATE;

export interface VadLike {
  readonly frameSamples: number;
  process(frame: Float32Array): Promise<number>;
}

export interface TranscriberLike {
  transcribe(
    samples: Float32Array,
    opts: { language?: string; maxTokens?: number; offsetMs?: number; noContext?: boolean },
  ): Promise<readonly { text: string }[]>;
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
        const segment = await this.transcribe(next);
        this.queue.shift();
        this.updateCommitted();
        this.sink.segment(segment, this.committed);
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

  private async transcribe(u: Utterance): Promise<HostSegment> {
    const audio = this.window.slice(u.startSample, u.endSample);
    const result = await this.whisper.transcribe(audio, {
      language: this.options.language,
      maxTokens: this.options.maxTokens,
      offsetMs: (u.startSample / HOST_SAMPLE_RATE) * 1000,
      noContext: true,
    });
    const embeddings: Float32Array[] = [];
    const windowSamples = Math.round(this.options.embeddingWindowS * HOST_SAMPLE_RATE);
    // One embedding per ~1.5 s window; a short tail joins the previous window.
    const count = Math.max(1, Math.floor(audio.length / windowSamples));
    for (let i = 0; i < count; i++) {
      const from = i * windowSamples;
      const to = i === count - 1 ? audio.length : from + windowSamples;
      const features = applyCmn(computeFbank(audio.subarray(from, to), SPEAKER_FBANK));
      if (features.frames === 0) continue;
      embeddings.push(await this.embedder.embed(features));
    }
    return {
      startSample: u.startSample,
      endSample: u.endSample,
      text: joinText(result),
      embeddings,
      language: this.options.language,
    };
  }
}

function joinText(segments: readonly { text: string }[]): string {
  return segments
    .map((s) => s.text)
    .join('')
    .trim();
}
