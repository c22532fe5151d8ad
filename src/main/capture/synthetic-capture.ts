import { Emitter } from '../../core/event';
import { Disposable } from '../../core/lifecycle';
import { paceByClock } from './clock-pacer';
import type { StenoError } from '../../core/errors';
import type { CaptureFormat, CaptureSource } from './capture-source';

export interface SyntheticCaptureOptions {
  format?: CaptureFormat;
  /** Frames per delivered chunk (default 20 ms). */
  framesPerChunk?: number;
  /** 'realtime' paces chunks by the clock; 'manual' delivers only on `pump`. */
  pacing?: 'realtime' | 'manual';
  /** Sine frequency in Hz (default 440). */
  frequency?: number;
}

/**
 * A capture source that synthesises a sine tone: for benchmarks (pushed at full
 * speed with `pump`) and for tests of the session without a sound card. The
 * chunk buffer is reused between deliveries, as a real driver's would be.
 */
export class SyntheticCapture extends Disposable implements CaptureSource {
  readonly format: CaptureFormat;
  readonly deviceName = 'synthetic';
  private readonly dataEmitter = new Emitter<Buffer>(4);
  private readonly errorEmitter = new Emitter<StenoError>(4);
  readonly onDidData = this.dataEmitter.event;
  readonly onDidError = this.errorEmitter.event;
  private readonly chunk: Buffer;
  /** One second of the tone, interleaved: a whole number of cycles for integer frequencies, so it loops seamlessly. */
  private readonly second: Buffer;
  private readonly framesPerChunk: number;
  private readonly frequency: number;
  private phaseFrame = 0;
  private running = false;
  /** When true, chunks are generated but not delivered (a device gone silent). */
  stalled = false;
  framesDelivered = 0;

  constructor(private readonly options: SyntheticCaptureOptions = {}) {
    super();
    this.format = options.format ?? { sampleRate: 48_000, channels: 1 };
    this.framesPerChunk = options.framesPerChunk ?? Math.round(this.format.sampleRate / 50);
    this.frequency = options.frequency ?? 440;
    this.chunk = Buffer.alloc(this.framesPerChunk * this.format.channels * 2);
    const { channels, sampleRate } = this.format;
    this.second = Buffer.alloc(sampleRate * channels * 2);
    const w = (2 * Math.PI * this.frequency) / sampleRate;
    for (let f = 0; f < sampleRate; f++) {
      const v = Math.round(Math.sin(w * f) * 8000);
      for (let c = 0; c < channels; c++) this.second.writeInt16LE(v, (f * channels + c) * 2);
    }
  }

  start(): void {
    this.running = true;
    if ((this.options.pacing ?? 'realtime') === 'realtime') {
      const periodMs = (this.framesPerChunk / this.format.sampleRate) * 1000;
      this._register(
        paceByClock(periodMs, () => {
          if (!this.running) return false;
          this.pump(1);
          return true;
        }),
      );
    }
  }

  /** Delivers `chunks` chunks synchronously. */
  pump(chunks: number): void {
    const { channels, sampleRate } = this.format;
    const bytesPerFrame = channels * 2;
    for (let k = 0; k < chunks && this.running; k++) {
      // Copy the next chunk out of the one-second table, wrapping around.
      let copied = 0;
      while (copied < this.framesPerChunk) {
        const n = Math.min(this.framesPerChunk - copied, sampleRate - this.phaseFrame);
        this.second.copy(
          this.chunk,
          copied * bytesPerFrame,
          this.phaseFrame * bytesPerFrame,
          (this.phaseFrame + n) * bytesPerFrame,
        );
        copied += n;
        this.phaseFrame = (this.phaseFrame + n) % sampleRate;
      }
      if (this.stalled) continue;
      this.framesDelivered += this.framesPerChunk;
      this.dataEmitter.fire(this.chunk);
    }
  }

  /** Simulates a driver fault. */
  fail(error: StenoError): void {
    this.errorEmitter.fire(error);
  }

  async stop(): Promise<void> {
    this.running = false;
    this._store.clear();
  }

  override dispose(): void {
    this.running = false;
    this.dataEmitter.dispose();
    this.errorEmitter.dispose();
    super.dispose();
  }
}
