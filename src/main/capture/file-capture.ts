import fs from 'node:fs';
import { Emitter } from '../../core/event';
import { Disposable, MutableDisposable } from '../../core/lifecycle';
import { paceByClock } from './clock-pacer';
import { parseWavHeader } from '../../core/wav-format';
import type { StenoError } from '../../core/errors';
import type { CaptureFormat, CaptureSource } from './capture-source';

export interface FileCaptureOptions {
  /** Frames per delivered chunk (default 100 ms). */
  framesPerChunk?: number;
  /** 'realtime' paces chunks by the clock; 'manual' delivers only on `pump`. */
  pacing?: 'realtime' | 'manual';
  /** Play the file again and again (default: once, then silence). */
  loop?: boolean;
}

/**
 * A capture source that plays a mono 16-bit WAV file as if it were a
 * microphone: for benchmarks and tests that need known speech without a sound
 * card (the end-to-end tests use the real virtual microphone instead). The
 * file is read whole once (a test fixture of seconds to minutes); after its
 * end it delivers silence, or loops.
 */
export class FileCapture extends Disposable implements CaptureSource {
  readonly format: CaptureFormat;
  readonly deviceName: string;
  private readonly dataEmitter = this._register(new Emitter<Buffer>(4));
  private readonly errorEmitter = this._register(new Emitter<StenoError>(4));
  readonly onDidData = this.dataEmitter.event;
  readonly onDidError = this.errorEmitter.event;
  private readonly pcm: Buffer;
  private readonly chunk: Buffer;
  private readonly framesPerChunk: number;
  private position = 0;
  private running = false;
  private readonly pacer = this._register(new MutableDisposable());
  /** Frames delivered so far (the position in the "recording"). */
  framesDelivered = 0;

  /** `file`: a path, or the bytes of a WAV file already read (benchmarks reuse one). */
  constructor(
    file: string | Buffer,
    private readonly options: FileCaptureOptions = {},
  ) {
    super();
    const bytes = typeof file === 'string' ? fs.readFileSync(file) : file;
    const header = parseWavHeader(bytes.subarray(0, Math.min(bytes.byteLength, 4096)));
    if (header.format.channels !== 1) throw new Error(`${file}: FileCapture plays mono files only`);
    this.format = { sampleRate: header.format.sampleRate, channels: 1 };
    this.deviceName = typeof file === 'string' ? `file:${file}` : 'file';
    this.pcm = bytes.subarray(header.dataOffset, header.dataOffset + header.dataBytes);
    this.framesPerChunk = options.framesPerChunk ?? Math.round(this.format.sampleRate / 10);
    this.chunk = Buffer.alloc(this.framesPerChunk * 2);
  }

  /** Length of the file in seconds. */
  get fileSeconds(): number {
    return this.pcm.byteLength / 2 / this.format.sampleRate;
  }

  start(): void {
    this.running = true;
    if ((this.options.pacing ?? 'realtime') !== 'realtime') return;
    const periodMs = (this.framesPerChunk / this.format.sampleRate) * 1000;
    this.pacer.value = paceByClock(periodMs, () => this.deliverOne(), periodMs / 2);
  }

  private deliverOne(): boolean {
    if (!this.running) return false;
    this.pump(1);
    return true;
  }

  /** Delivers `chunks` chunks synchronously. */
  pump(chunks: number): void {
    for (let k = 0; k < chunks && this.running; k++) {
      let filled = 0;
      const want = this.chunk.byteLength;
      while (filled < want) {
        if (this.position >= this.pcm.byteLength) {
          if (this.options.loop && this.pcm.byteLength > 0) this.position = 0;
          else {
            this.chunk.fill(0, filled);
            break;
          }
        }
        const n = Math.min(want - filled, this.pcm.byteLength - this.position);
        this.pcm.copy(this.chunk, filled, this.position, this.position + n);
        filled += n;
        this.position += n;
      }
      this.framesDelivered += this.framesPerChunk;
      this.dataEmitter.fire(this.chunk);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.pacer.value = undefined;
  }
}
