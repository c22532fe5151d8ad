import fs from 'node:fs';
import { Disposable, toDisposable } from '../../core/lifecycle';
import { StenoError } from '../../core/errors';
import { StreamingResampler } from '../../core/resample';
import { WAV_HEADER_BYTES } from '../../core/wav-format';
import { HOST_SAMPLE_RATE, MAX_CHUNK_SAMPLES, MAX_UNACKED_CHUNKS } from '../../core/host-protocol';
import type { ModelHostSupervisor } from './supervisor';

/** The recording the feed follows: a mono 16-bit WAV written by WavAppendWriter. */
export interface FeedSource {
  readonly audioPath: string;
  readonly sampleRate: number;
  /** Frames appended to the file so far (readable through another descriptor). */
  writtenFrames(): number;
}

/** Each read is half a second of input: at 16 kHz at most 8001 samples, under MAX_CHUNK_SAMPLES. */
const READ_SECONDS = 0.5;
/** How often new audio in the file is looked for. */
const POLL_MS = 200;

/**
 * Moves recorded audio to the model host: reads it back from audio.wav,
 * resamples it to 16 kHz and sends it in chunks, keeping at most
 * MAX_UNACKED_CHUNKS unacknowledged. Reading from the file (never from the
 * capture path) means capture never waits on transcription, memory stays
 * bounded however far behind the host falls, and catching up after a host
 * restart is the same code as keeping up: rewind to the host's commit point.
 */
export class TranscriptionFeed extends Disposable {
  private fd: number | null = null;
  private readonly resampler: StreamingResampler;
  private readonly readBuffer: Buffer;
  /** Next input frame to read from the file. */
  private nextInputFrame = 0;
  /** 16 kHz index of the next sample to send. */
  private nextOutputSample = 0;
  /** All audio before this is accounted for by the host. */
  private committed = 0;
  /** Highest 16 kHz position the host has acknowledged (taken in and through the VAD). */
  private ackedEnd = 0;
  /** seq -> end sample of the chunk; at most MAX_UNACKED_CHUNKS entries. */
  private readonly inFlight = new Map<number, number>();
  private seq = 0;
  private ended = false;
  private resamplerFlushed = false;
  private pumping = false;
  private pumpAgain = false;
  private drainWaiters: (() => void)[] = [];
  /** performance.now() of the host's last acknowledgement, segment or flush: its progress. */
  private lastProgressMs = performance.now();

  constructor(
    private readonly source: FeedSource,
    private readonly supervisor: ModelHostSupervisor,
    /**
     * 16 kHz sample to start from: a transcription resumed after a crash or a
     * pause starts at its last commit point, as a restarted host does.
     */
    startSample = 0,
  ) {
    super();
    this.committed = startSample;
    this.ackedEnd = startSample;
    this.resampler = new StreamingResampler({
      inputRate: source.sampleRate,
      outputRate: HOST_SAMPLE_RATE,
    });
    this.readBuffer = Buffer.alloc(Math.ceil(source.sampleRate * READ_SECONDS) * 2);
    this._register(supervisor.onDidBecomeReady(() => this.rewind()));
    this._register(
      supervisor.onDidMessage((m) => {
        if (m.type === 'ack' || m.type === 'segment' || m.type === 'flushed') {
          this.lastProgressMs = performance.now();
        }
        if (m.type === 'ack') {
          const end = this.inFlight.get(m.seq);
          if (end === undefined) return;
          this.inFlight.delete(m.seq);
          this.ackedEnd = Math.max(this.ackedEnd, end);
          this.committed = Math.max(this.committed, m.committedSample);
          this.kick();
        } else if (m.type === 'segment' || m.type === 'flushed') {
          this.committed = Math.max(this.committed, m.committedSample);
        }
      }),
    );
    const timer = setInterval(() => this.kick(), POLL_MS);
    this._register(toDisposable(() => clearInterval(timer)));
    this._register(
      toDisposable(() => {
        if (this.fd !== null) fs.closeSync(this.fd);
        this.fd = null;
      }),
    );
  }

  /** Seconds of recorded audio the host has not yet taken in. */
  get lagSeconds(): number {
    const recorded = this.source.writtenFrames() / this.source.sampleRate;
    return Math.max(0, recorded - this.ackedEnd / HOST_SAMPLE_RATE);
  }

  get committedSample(): number {
    return this.committed;
  }

  get unacknowledgedChunks(): number {
    return this.inFlight.size;
  }

  /**
   * The recording has stopped: sends the rest of the file, then asks the host
   * to close the last utterance. Resolves when every utterance was sent back.
   * Host crashes meanwhile are survived: the feed rewinds and tries again.
   *
   * `timeoutMs` is how long the host may go without progress (an
   * acknowledgement, a segment): a file hours long still has hours of work
   * left when its audio is all written, and takes as long as it takes while
   * the host keeps moving.
   */
  async finish(timeoutMs = 120_000): Promise<void> {
    this.ended = true;
    // The rest goes now, not at the next poll.
    this.kick();
    this.lastProgressMs = performance.now();
    for (;;) {
      if (this.supervisor.error) throw this.supervisor.error;
      if (this.supervisor.isStopped) {
        // Ended from outside (a cancel): nothing will come any more.
        throw new StenoError(
          'HOST_FAILED',
          'Transcription was stopped before it finished.',
          'The audio is saved; transcribe it again.',
        );
      }
      if (performance.now() - this.lastProgressMs > timeoutMs) {
        throw new StenoError(
          'HOST_FAILED',
          `Transcription made no progress for ${timeoutMs >= 1000 ? `${Math.round(timeoutMs / 1000)} s` : `${timeoutMs} ms`}.`,
          'The audio is saved; transcribe the recording again later.',
        );
      }
      // Wait for the rest to be sent and acknowledged, re-checking twice a
      // second: a host that crashed meanwhile (or failed for good) must not
      // leave this waiting forever.
      if (this.supervisor.isParked) this.supervisor.wake();
      if (!this.isDrained() || !this.supervisor.isReady) {
        await this.drainedOrAfter(500);
        continue;
      }
      try {
        await this.supervisor.request(
          (id) => ({ type: 'flush', id, endSample: this.nextOutputSample }),
          (m, id) => m.type === 'flushed' && m.id === id,
          Math.max(1000, timeoutMs),
        );
        return;
      } catch {
        // The host crashed during the flush: it restarts, we resend and retry.
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** Resolves when drained or after `ms`, whichever comes first; leaves no timer behind. */
  private drainedOrAfter(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      void this.drained().then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Resolves when all input was sent and acknowledged. At most one waiter (finish) at a time. */
  private drained(): Promise<void> {
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainWaiters = [resolve];
    });
  }

  private isDrained(): boolean {
    return (
      this.ended &&
      this.resamplerFlushed &&
      this.inFlight.size === 0 &&
      this.nextInputFrame >= this.source.writtenFrames()
    );
  }

  /** A new host is ready: resend everything from its predecessor's commit point. */
  private rewind(): void {
    this.inFlight.clear();
    this.nextOutputSample = this.committed;
    this.ackedEnd = Math.min(this.ackedEnd, this.committed);
    // Exact for integer ratios (48 kHz: 3 input frames per output sample); for
    // others the restart point is within one input frame.
    this.nextInputFrame = Math.floor((this.committed * this.source.sampleRate) / HOST_SAMPLE_RATE);
    this.resampler.reset();
    this.resamplerFlushed = false;
    this.kick();
  }

  private kick(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    void this.pump()
      .catch(() => {
        // A read error (file gone) stops transcription; the recording session
        // reports the file problem itself.
      })
      .finally(() => {
        this.pumping = false;
        if (this.isDrained()) {
          const waiters = this.drainWaiters;
          this.drainWaiters = [];
          for (const w of waiters) w();
        }
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.kick();
        }
      });
  }

  private async pump(): Promise<void> {
    const readFrames = this.readBuffer.length / 2;
    // The host exited while idle (a long pause): new audio, or the end of the
    // recording, brings one back; it resends from the commit point when ready.
    if (
      this.supervisor.isParked &&
      (this.source.writtenFrames() > this.nextInputFrame || (this.ended && !this.isDrained()))
    ) {
      this.supervisor.wake();
      return;
    }
    while (this.supervisor.isReady && this.inFlight.size < MAX_UNACKED_CHUNKS) {
      const available = this.source.writtenFrames() - this.nextInputFrame;
      if (available <= 0 || (available < readFrames && !this.ended)) {
        if (this.ended && available <= 0 && !this.resamplerFlushed) {
          this.resamplerFlushed = true;
          this.sendSamples(this.resampler.flush());
          continue;
        }
        return;
      }
      const frames = Math.min(available, readFrames);
      const bytes = await this.read(this.nextInputFrame, frames);
      this.nextInputFrame += frames;
      const samples = new Int16Array(this.readBuffer.buffer, this.readBuffer.byteOffset, bytes / 2);
      this.sendSamples(this.resampler.push(samples));
    }
  }

  private sendSamples(samples: Float32Array): void {
    for (let from = 0; from < samples.length; from += MAX_CHUNK_SAMPLES) {
      // A copy: the message is structured-cloned, and the resampler reuses nothing here anyway.
      const chunk = samples.slice(from, Math.min(samples.length, from + MAX_CHUNK_SAMPLES));
      const seq = this.seq++;
      const startSample = this.nextOutputSample;
      this.nextOutputSample += chunk.length;
      this.inFlight.set(seq, this.nextOutputSample);
      this.supervisor.send({ type: 'audio', seq, startSample, samples: chunk });
    }
  }

  private async read(frame: number, frames: number): Promise<number> {
    if (this.fd === null) this.fd = fs.openSync(this.source.audioPath, 'r');
    const want = frames * 2;
    let got = 0;
    while (got < want) {
      const n = await new Promise<number>((resolve, reject) =>
        fs.read(
          this.fd!,
          this.readBuffer,
          got,
          want - got,
          WAV_HEADER_BYTES + frame * 2 + got,
          (e, r) => (e ? reject(e) : resolve(r)),
        ),
      );
      if (n === 0) break;
      got += n;
    }
    return got - (got % 2);
  }
}
