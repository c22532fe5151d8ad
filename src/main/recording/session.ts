import fs from 'node:fs';
import { Emitter } from '../../core/event';
import { Disposable } from '../../core/lifecycle';
import { StenoError, fileSystemError, isStenoError } from '../../core/errors';
import { PcmRingBuffer } from '../../core/ring-buffer';
import { asInt16, downmixInt16ToMono, measureLevels, type Levels } from '../../core/pcm';
import type { CaptureSource } from '../capture/capture-source';
import type { FileSystemLayer } from '../fs-layer';
import { WAV_HEADER_BYTES } from '../../core/wav-format';
import { WavAppendWriter, realClock, type RecordingClock } from './wav-writer';
import { RecordingsStore, type RecordingMeta, type RecordingState } from './recordings-store';
import type { StopReason } from '../../core/api/types';

/** Ring capacity: 10 s of audio. The writer drains it every write interval; a disk stall longer than the rest drops frames (counted). */
export const DEFAULT_RING_SECONDS = 10;
/** No audio for this long while the device is open means it is gone. */
export const DEFAULT_WATCHDOG_MS = 2000;
/**
 * Largest single write handed to the writer: 4 s of mono audio at 48 kHz, so
 * one interval's audio is one write (two where the ring wraps).
 */
const MAX_WRITE_BYTES = 384_000;
/**
 * How often the ring is written to the file, then synced: once per sync
 * interval. A write per captured chunk (5 a second) cost a round trip through
 * libuv's thread pool each, more CPU than capture itself (bench/README.md,
 * record-cpu); writing just before each sync keeps what a power loss can
 * take to the same one interval, and what a kill -9 can take to one interval
 * plus a chunk (the power-cut test and the crash-recovery benchmark bound
 * them at 2 s).
 */
const DEFAULT_WRITE_INTERVAL_MS = 1000;
export const WATCHDOG_TICK_MS = 1000;
/** How often the folder is checked for having vanished. */
export const FOLDER_CHECK_MS = 5000;
/** Names of the session's timers on its clock. */
export const WATCHDOG_TIMER = 'watchdog';
export const FOLDER_CHECK_TIMER = 'folder-check';
export const WRITE_TIMER = 'ring-write';

export interface RecordingSessionOptions {
  store: RecordingsStore;
  /** An opened, not yet started capture source; the session owns and disposes it. */
  capture: CaptureSource;
  ringSeconds?: number;
  watchdogMs?: number;
  /** File-system layer for the WAV writer (tests inject faults). */
  fs?: FileSystemLayer;
  syncIntervalMs?: number;
  /** The session's and its writer's time and timers (default: the real clock). */
  clock?: RecordingClock;
}

export interface RecordingStats {
  /** Frames delivered by the device since start (including while paused). */
  capturedFrames: number;
  /** Frames appended to the WAV file. */
  writtenFrames: number;
  /** Frames taken into the recording: written, or in the ring waiting for the next write. */
  recordedFrames: number;
  /** Frames synced to disk and claimed by the WAV header. */
  durableFrames: number;
  ringCapacityBytes: number;
  ringHighWaterBytes: number;
  ringUsedBytes: number;
  /** Frames dropped because the ring was full. */
  droppedFrames: number;
  sampleRate: number;
}

type SessionState =
  Exclude<RecordingState, 'complete' | 'recovered' | 'failed'> | 'stopping' | 'ended';

/**
 * One recording: capture -> ring buffer -> append-only WAV file, with pause,
 * resume, stop, a no-data watchdog and clean finalisation on every failure.
 * Capture never waits on the disk: the capture callback only copies into the
 * ring; a single drain loop moves ring contents to the writer.
 */
export class RecordingSession extends Disposable {
  private readonly stateEmitter = this._register(new Emitter<RecordingState>());
  private readonly failEmitter = this._register(new Emitter<StenoError>());
  private readonly levelEmitter = this._register(new Emitter<Levels>());
  /** Fires when the state changes (recording, paused, complete, failed). */
  readonly onDidChangeState = this.stateEmitter.event;
  /** Fires once when the recording ended because of an error; it was finalized. */
  readonly onDidFail = this.failEmitter.event;
  /** Fires per captured chunk with its peak and RMS level. */
  readonly onDidLevel = this.levelEmitter.event;

  private state: SessionState = 'recording';
  private readonly ring: PcmRingBuffer;
  private monoScratch: Int16Array;
  private capturedFrames = 0;
  private lastDataAt: number;
  private drainPromise: Promise<void> | null = null;
  private endPromise: Promise<RecordingMeta> | null = null;
  private failure: StenoError | null = null;
  /** The writer failed: nothing more can be written, the ring is abandoned. */
  private writerFailed = false;
  /** The write timer's sync, while it runs. */
  private tickSync: Promise<void> | null = null;
  /** A tick came while `tickSync` ran: one more sync follows it. */
  private syncAgain = false;

  private constructor(
    private readonly store: RecordingsStore,
    private readonly capture: CaptureSource,
    private readonly writer: WavAppendWriter,
    private meta: RecordingMeta,
    private readonly watchdogMs: number,
    ringSeconds: number,
    private readonly clock: RecordingClock,
    writeIntervalMs: number,
  ) {
    super();
    this.lastDataAt = clock.now();
    this._register(capture);
    this._register(writer);
    this.ring = PcmRingBuffer.forDuration(ringSeconds, capture.format.sampleRate, 2);
    // Sized for one 1 s chunk; larger chunks are downmixed in slices.
    this.monoScratch = new Int16Array(capture.format.sampleRate);
    this._register(capture.onDidData((chunk) => this.onData(chunk)));
    this._register(capture.onDidError((err) => void this.fail(err)));
    this._register(clock.every(WRITE_TIMER, writeIntervalMs, () => this.onWriteTick()));
    this._register(clock.every(WATCHDOG_TIMER, WATCHDOG_TICK_MS, () => this.checkWatchdog()));
    this._register(clock.every(FOLDER_CHECK_TIMER, FOLDER_CHECK_MS, () => void this.checkFolder()));
  }

  /** Creates the recording folder and file, then starts capturing. */
  static async start(options: RecordingSessionOptions): Promise<RecordingSession> {
    const { store, capture } = options;
    const id = RecordingsStore.newId();
    let writer: WavAppendWriter | null = null;
    try {
      await store.create(id);
      writer = await WavAppendWriter.create(
        store.audioPath(id),
        { sampleRate: capture.format.sampleRate, channels: 1, bitsPerSample: 16 },
        { fs: options.fs, syncIntervalMs: options.syncIntervalMs, clock: options.clock },
      );
      const meta: RecordingMeta = {
        version: 1,
        id,
        startedAt: new Date().toISOString(),
        device: capture.deviceName,
        sampleRate: capture.format.sampleRate,
        channels: 1,
        durationS: 0,
        state: 'recording',
      };
      await store.writeMeta(meta);
      const session = new RecordingSession(
        store,
        capture,
        writer,
        meta,
        options.watchdogMs ?? DEFAULT_WATCHDOG_MS,
        options.ringSeconds ?? DEFAULT_RING_SECONDS,
        options.clock ?? realClock,
        options.syncIntervalMs ?? DEFAULT_WRITE_INTERVAL_MS,
      );
      capture.start();
      return session;
    } catch (e) {
      // Nothing was recorded: leave nothing behind.
      writer?.dispose();
      capture.dispose();
      await fs.promises.rm(store.dirOf(id), { recursive: true, force: true }).catch(() => {});
      throw isStenoError(e) ? e : fileSystemError(e, store.root, 'starting a recording');
    }
  }

  get id(): string {
    return this.meta.id;
  }

  get folder(): string {
    return this.store.dirOf(this.meta.id);
  }

  get audioPath(): string {
    return this.store.audioPath(this.meta.id);
  }

  get deviceName(): string {
    return this.capture.deviceName;
  }

  /** ISO 8601 time the recording started. */
  get startedAt(): string {
    return this.meta.startedAt;
  }

  get currentState(): SessionState {
    return this.state;
  }

  get error(): StenoError | null {
    return this.failure;
  }

  /** Frames taken into the recording (written, or in the ring for the next write); cheaper than `stats`. */
  get recordedFrames(): number {
    return (this.writer.bytesWritten + this.ring.availableBytes) / 2;
  }

  /** Bytes of the audio file: its header and every byte written to it. */
  get fileBytes(): number {
    return WAV_HEADER_BYTES + this.writer.bytesWritten;
  }

  get ringFreeBytes(): number {
    return this.ring.freeBytes;
  }

  get stats(): RecordingStats {
    return {
      capturedFrames: this.capturedFrames,
      writtenFrames: this.writer.bytesWritten / 2,
      recordedFrames: this.recordedFrames,
      durableFrames: this.writer.bytesDurable / 2,
      ringCapacityBytes: this.ring.capacityBytes,
      ringHighWaterBytes: this.ring.highWaterBytes,
      ringUsedBytes: this.ring.availableBytes,
      droppedFrames: this.ring.overrunFrames,
      sampleRate: this.capture.format.sampleRate,
    };
  }

  async pause(): Promise<void> {
    if (this.state !== 'recording') throw invalidState('pause', this.state);
    this.state = 'paused';
    await this.flush();
    await this.saveMeta({ state: 'paused' });
    this.stateEmitter.fire('paused');
  }

  async resume(): Promise<void> {
    if (this.state !== 'paused') throw invalidState('resume', this.state);
    this.state = 'recording';
    await this.saveMeta({ state: 'recording' });
    this.stateEmitter.fire('recording');
  }

  /**
   * Stops capture, writes every captured frame, finalizes the file. `reason`
   * is kept in the recording's meta (an error ending it is kept as 'error').
   */
  stop(reason: StopReason = 'user'): Promise<RecordingMeta> {
    if (this.endPromise) return this.endPromise;
    this.endPromise = this.finish(null, reason);
    return this.endPromise;
  }

  private onData(chunk: Buffer): void {
    this.lastDataAt = this.clock.now();
    const channels = this.capture.format.channels;
    const frames = Math.floor(chunk.byteLength / (2 * channels));
    this.capturedFrames += frames;
    if (this.state !== 'recording' && this.state !== 'stopping') return;
    if (this.writerFailed) return;
    const samples = asInt16(chunk);
    if (channels === 1) {
      this.ring.write(chunk);
      this.levelEmitter.fire(measureLevels(samples));
    } else {
      for (let f = 0; f < frames; f += this.monoScratch.length) {
        const n = Math.min(this.monoScratch.length, frames - f);
        const slice = samples.subarray(f * channels, (f + n) * channels);
        downmixInt16ToMono(slice, channels, this.monoScratch);
        const mono = this.monoScratch.subarray(0, n);
        this.ring.write(new Uint8Array(mono.buffer, mono.byteOffset, n * 2));
        this.levelEmitter.fire(measureLevels(mono));
      }
    }
    // Written at the next write tick; only a ring filling up (a stalled
    // disk, or a chunk larger than the interval) is written at once.
    if (this.ring.freeBytes < this.ring.availableBytes) this.kickDrain();
  }

  /** The ring's audio to the file, then a sync that makes it durable and claimed by the header. */
  private onWriteTick(): void {
    // Stopping: the stop's own flush writes and syncs the rest.
    if (this.state === 'stopping' || this.state === 'ended' || this.writerFailed) return;
    if (this.ring.availableBytes > 0) this.kickDrain();
    this.syncAfterDrain();
  }

  /**
   * One sync at a time: on a disk slower than the interval, a tick that finds
   * one running asks for one more after it (one, however many ticks ask),
   * so syncs follow each other instead of queueing without bound.
   */
  private syncAfterDrain(): void {
    if (this.tickSync) {
      this.syncAgain = true;
      return;
    }
    const drained = this.drainPromise ?? Promise.resolve();
    // A failed sync is kept by the writer and reported by the next append or
    // by close, which end the recording with it.
    this.tickSync = drained
      .then(() => (this.writerFailed ? undefined : this.writer.sync()))
      .catch(() => {})
      .finally(() => {
        this.tickSync = null;
        if (this.syncAgain && !this.writerFailed) {
          this.syncAgain = false;
          this.syncAfterDrain();
        }
      });
  }

  private kickDrain(): void {
    if (this.drainPromise || this.writerFailed) return;
    this.drainPromise = this.drainLoop().finally(() => {
      this.drainPromise = null;
    });
  }

  private async drainLoop(): Promise<void> {
    try {
      while (this.ring.availableBytes > 0 && !this.writerFailed) {
        const view = this.ring.peekContiguous(MAX_WRITE_BYTES);
        await this.writer.append(view);
        this.ring.consume(view.byteLength);
      }
    } catch (e) {
      this.writerFailed = true;
      void this.fail(isStenoError(e) ? e : fileSystemError(e, this.audioPath, 'writing audio'));
    }
  }

  /** Waits until the ring is empty (or the writer failed), then syncs. */
  private async flush(): Promise<void> {
    while (this.drainPromise || (this.ring.availableBytes > 0 && !this.writerFailed)) {
      if (!this.drainPromise) this.kickDrain();
      await this.drainPromise;
    }
    if (!this.writerFailed) await this.writer.sync();
  }

  private checkWatchdog(): void {
    if (this.state !== 'recording' && this.state !== 'paused') return;
    const silentMs = this.clock.now() - this.lastDataAt;
    if (silentMs < this.watchdogMs) return;
    void this.fail(
      new StenoError(
        'DEVICE_LOST',
        `No audio arrived from "${this.capture.deviceName}" for ${(silentMs / 1000).toFixed(1)} s; ` +
          'the microphone may have been unplugged. The recording was saved up to that point.',
        'Reconnect the microphone (or pick another with `steno devices`) and start a new recording.',
      ),
    );
  }

  private async checkFolder(): Promise<void> {
    if (this.state !== 'recording' && this.state !== 'paused') return;
    if (await this.audioFileRemoved()) void this.fail(this.folderVanished());
  }

  /** The audio file's name is gone from its folder (the descriptor may still reach it). */
  private async audioFileRemoved(): Promise<boolean> {
    try {
      await fs.promises.stat(this.audioPath);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }

  private folderVanished(): StenoError {
    return new StenoError(
      'DIR_VANISHED',
      `The recording folder ${this.folder} was removed (or its drive disconnected) while recording.`,
      'Check the recordings folder and its drive, then start a new recording.',
    );
  }

  private fail(error: StenoError): Promise<RecordingMeta> {
    if (this.endPromise) {
      // Already ending: remember the first error so stop() reports it.
      this.failure ??= error;
      return this.endPromise;
    }
    this.failure = error;
    this.endPromise = this.finish(error, 'error');
    return this.endPromise;
  }

  private async finish(error: StenoError | null, reason: StopReason): Promise<RecordingMeta> {
    this.state = 'stopping';
    // Stop the device first: its last frames arrive before stop() resolves and
    // are still written (unless the writer itself failed).
    await this.capture.stop(error?.code === 'DEVICE_LOST');
    // Everything captured goes to disk, unless the disk is what failed.
    await this.flush().catch((e: unknown) => {
      this.failure ??= isStenoError(e) ? e : fileSystemError(e, this.audioPath, 'writing audio');
    });
    // The folder may have gone since the last check (or the stop came first).
    let vanished = this.failure ?? error;
    if (vanished?.code !== 'DIR_VANISHED' && (await this.audioFileRemoved())) {
      vanished = this.folderVanished();
      this.failure ??= vanished;
    }
    if (vanished?.code === 'DIR_VANISHED') this.failure = await this.rescueAudio(vanished);
    let closeError: StenoError | null = null;
    try {
      await this.writer.close();
    } catch (e) {
      closeError = isStenoError(e)
        ? e
        : fileSystemError(e, this.audioPath, 'finishing the audio file');
    }
    const failure = this.failure ?? error ?? closeError;
    this.state = 'ended';
    const durationS = this.writer.bytesDurable / 2 / this.capture.format.sampleRate;
    const finalState: RecordingState = failure ? 'failed' : 'complete';
    try {
      await this.saveMeta({
        state: finalState,
        durationS,
        endedAt: new Date().toISOString(),
        stopReason: failure ? 'error' : reason,
        ...(failure ? { error: failure.toJSON() } : {}),
      });
      await this.store.removeMarker(this.meta.id);
    } catch {
      // The disk may be full or gone: the marker stays, so the next start's
      // recovery rebuilds the details from the audio file. The WAV header is
      // already true.
    }
    if (failure) {
      this.failure = failure;
      this.failEmitter.fire(failure);
    }
    this.stateEmitter.fire(finalState);
    this.capture.dispose();
    return this.meta;
  }

  /**
   * The folder vanished while recording (deleted, not unplugged): the open
   * file still reaches the audio, so the folder is made again and the audio
   * saved into it. Returns the error, now saying whether that worked and
   * where the audio is.
   */
  private async rescueAudio(vanished: StenoError): Promise<StenoError> {
    let outcome: string;
    let remade = false;
    try {
      remade = (await this.store.recreate(this.meta.id)).created;
      await this.writer.copyTo(this.audioPath);
      const seconds = this.writer.bytesDurable / 2 / this.capture.format.sampleRate;
      outcome = `The ${seconds.toFixed(1)} s recorded until then were saved again to ${this.audioPath}.`;
    } catch (e) {
      const reason = isStenoError(e) ? e.message : String(e);
      outcome = `The audio recorded until then could not be saved again: ${reason}`;
      // No folder of ours that claims a recording it does not hold.
      if (remade)
        await fs.promises.rm(this.folder, { recursive: true, force: true }).catch(() => {});
    }
    return new StenoError(vanished.code, `${vanished.message} ${outcome}`, vanished.action, {
      cause: vanished.cause,
    });
  }

  private async saveMeta(patch: Partial<RecordingMeta>): Promise<void> {
    this.meta = { ...this.meta, ...patch };
    await this.store.writeMeta(this.meta);
  }
}

function invalidState(action: string, state: string): StenoError {
  return new StenoError(
    'INVALID_STATE',
    `Cannot ${action} a recording that is ${state}.`,
    'Check the recording state before calling this.',
  );
}
