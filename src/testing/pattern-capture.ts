import { Emitter } from '../core/event';
import { Disposable } from '../core/lifecycle';
import type { StenoError } from '../core/errors';
import type { CaptureFormat, CaptureSource } from '../main/capture/capture-source';
import { paceByClock } from '../main/capture/clock-pacer';

/**
 * The s16 value of frame `i` of the test pattern: the top 16 bits of a
 * multiplicative hash of the index. Unlike a counter or a tone it never
 * repeats within a test's length, so a span that was shifted, dropped or
 * written twice cannot match by accident.
 */
export function patternSample(i: number): number {
  return Math.imul(i + 1, 0x9e3779b1) >> 16;
}

/** Frames `first` .. `first + frames - 1` of the pattern as mono s16le bytes. */
export function patternBytes(first: number, frames: number): Buffer {
  const b = Buffer.alloc(frames * 2);
  for (let f = 0; f < frames; f++) b.writeInt16LE(patternSample(first + f), f * 2);
  return b;
}

export interface PatternCaptureOptions {
  sampleRate?: number;
  /** Frames per delivered chunk (default 20 ms). */
  framesPerChunk?: number;
  /** 'realtime' paces chunks by the clock; 'manual' delivers only on `pump`. */
  pacing?: 'realtime' | 'manual';
}

/**
 * A mono capture source delivering `patternSample` frames in order, so a
 * recording's content can be checked sample by sample against its source.
 * `halt()` stops delivery without stopping the session, as a process that
 * died would: the session sees no more audio and writes nothing of its own.
 */
export class PatternCapture extends Disposable implements CaptureSource {
  readonly format: CaptureFormat;
  readonly deviceName = 'pattern';
  private readonly dataEmitter = this._register(new Emitter<Buffer>(4));
  private readonly errorEmitter = this._register(new Emitter<StenoError>(4));
  readonly onDidData = this.dataEmitter.event;
  readonly onDidError = this.errorEmitter.event;
  private readonly framesPerChunk: number;
  /** One chunk, reused between deliveries as a real driver's buffer is. */
  private readonly chunk: Buffer;
  private running = false;
  private halted = false;
  /** Frames delivered so far; the next chunk starts at this pattern index. */
  framesDelivered = 0;

  constructor(private readonly options: PatternCaptureOptions = {}) {
    super();
    const sampleRate = options.sampleRate ?? 48_000;
    this.format = { sampleRate, channels: 1 };
    this.framesPerChunk = options.framesPerChunk ?? Math.round(sampleRate / 50);
    this.chunk = Buffer.alloc(this.framesPerChunk * 2);
  }

  start(): void {
    this.running = true;
    if ((this.options.pacing ?? 'manual') === 'realtime') {
      const periodMs = (this.framesPerChunk / this.format.sampleRate) * 1000;
      this._register(
        paceByClock(periodMs, () => {
          if (!this.running || this.halted) return false;
          this.pump(1);
          return true;
        }),
      );
    }
  }

  /** Delivers `chunks` chunks synchronously (none once halted or stopped). */
  pump(chunks: number): void {
    for (let k = 0; k < chunks && this.running && !this.halted; k++) {
      for (let f = 0; f < this.framesPerChunk; f++) {
        this.chunk.writeInt16LE(patternSample(this.framesDelivered + f), f * 2);
      }
      this.framesDelivered += this.framesPerChunk;
      this.dataEmitter.fire(this.chunk);
    }
  }

  /** Delivers nothing from now on: the process recording it is taken to be dead. */
  halt(): void {
    this.halted = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }
}
