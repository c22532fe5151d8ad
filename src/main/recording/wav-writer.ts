/**
 * The recording writer: appends PCM to a WAV file and keeps its header true.
 *
 * - Append-only: audio is written once at a tracked offset and never read back
 *   or rewritten, so the cost of an append does not depend on the file's size.
 * - The header is made true after each fdatasync: `sync()` first makes the audio
 *   durable, then patches the size fields to claim exactly that audio. So the
 *   header never claims bytes that are not on disk, and a crash loses at most
 *   about `syncIntervalMs` of audio from the header's view (crash recovery
 *   reclaims even that with `repairWavHeader`).
 * - Past 4 GiB the file turns into RF64 in place (see src/core/wav-format.ts).
 * - Appends and syncs run on two separate serial chains, so capture never waits
 *   for an fdatasync (which can take hundreds of milliseconds on a busy disk):
 *   a sync claims only what was written when it started.
 */
import { Disposable, toDisposable, type IDisposable } from '../../core/lifecycle';
import { StenoError, fileSystemError } from '../../core/errors';
import {
  WAV_HEADER_BYTES,
  assertPcmFormat,
  blockAlignOf,
  buildWavHeader,
  headerPatches,
  needsRf64,
  type PcmFormat,
} from '../../core/wav-format';
import { nodeFileSystem, writeFully, type FileSystemLayer } from '../fs-layer';
import { saveDescriptorAs } from '../temp-files';

export interface WavAppendWriterOptions {
  fs?: FileSystemLayer;
  /** How long written audio may stay unclaimed by the header; default 1000, at most 2000. */
  syncIntervalMs?: number;
  /** Default: the real clock. */
  clock?: RecordingClock;
}

/**
 * The time and the interval timers a recording runs on. The real clock by
 * default; a benchmark that pushes audio faster than real time passes one
 * that runs on the audio's own time, so each timer fires as often per second
 * of audio as it does in a live recording.
 */
export interface RecordingClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /**
   * Calls `tick` every `periodMs` until the result is disposed. `name` says
   * which timer it is (see the *_TIMER names). `unref`: the timer alone does
   * not keep the process alive.
   */
  every(name: string, periodMs: number, tick: () => void, opts?: { unref?: boolean }): IDisposable;
}

export const realClock: RecordingClock = {
  now: () => performance.now(),
  every(_name, periodMs, tick, opts) {
    const timer = setInterval(tick, periodMs);
    if (opts?.unref) timer.unref();
    return toDisposable(() => clearInterval(timer));
  },
};

/** The writer's timer that makes written audio durable and claimed by the header. */
export const SYNC_TIMER = 'wav-sync';

const DEFAULT_SYNC_INTERVAL_MS = 1000;
const MAX_SYNC_INTERVAL_MS = 2000;
const noop = (): void => {};

export class WavAppendWriter extends Disposable {
  private fd: number;
  private readonly blockAlign: number;
  /** Data bytes that reached the file (the kernel), including a partial frame after a failed write. */
  private written = 0;
  /** Data bytes made durable by fdatasync and claimed by the header. */
  private claimed = 0;
  /** Tail of the append chain; never rejects, so one failure cannot break the chain. */
  private appendTail: Promise<void> = Promise.resolve();
  /** Tail of the sync chain; never rejects. */
  private syncTail: Promise<void> = Promise.resolve();
  private syncRunning = false;
  /** Appends accepted and not yet settled. */
  private appendsQueued = 0;
  private readonly onAppendSettled = (): void => {
    this.appendsQueued--;
  };
  private failure: StenoError | null = null;
  /** Set when an fdatasync or header patch failed: no later sync may claim more. */
  private syncFailure: StenoError | null = null;
  private error: StenoError | null = null;
  private closing: Promise<void> | null = null;
  /** copyTo has begun: recording into this file is over. */
  private copying = false;

  private constructor(
    private readonly fsl: FileSystemLayer,
    fd: number,
    readonly path: string,
    readonly format: PcmFormat,
    syncIntervalMs: number,
    clock: RecordingClock,
  ) {
    super();
    this.fd = fd;
    this.blockAlign = blockAlignOf(format);
    // The timer checks every interval; audio written just after a tick is claimed
    // at the next one, so unclaimed audio is at most one interval (plus the sync's
    // own time) old. unref: a recording must not keep a quitting process alive.
    this._register(clock.every(SYNC_TIMER, syncIntervalMs, () => this.onTimer(), { unref: true }));
  }

  /** Creates `path` (it must not exist) with a header claiming no audio yet, durably. */
  static async create(
    path: string,
    format: PcmFormat,
    opts: WavAppendWriterOptions = {},
  ): Promise<WavAppendWriter> {
    assertPcmFormat(format);
    const syncIntervalMs = opts.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    if (!(syncIntervalMs > 0 && syncIntervalMs <= MAX_SYNC_INTERVAL_MS)) {
      throw new StenoError(
        'INVALID_ARGUMENT',
        `syncIntervalMs must be in (0, ${MAX_SYNC_INTERVAL_MS}]; got ${syncIntervalMs}.`,
        'Pass a sync interval of at most two seconds, so a crash loses at most that much audio.',
      );
    }
    const fsl = opts.fs ?? nodeFileSystem;
    let fd: number;
    try {
      // 'x': never append to or clobber an existing recording. '+': readable
      // too, only so that copyTo can save the audio if the file is removed.
      fd = await fsl.open(path, 'wx+', 0o644);
    } catch (e) {
      throw fileSystemError(e, path, 'creating the recording file');
    }
    try {
      await writeFully(fsl, fd, buildWavHeader(format, 0), 0);
      await fsl.fdatasync(fd);
    } catch (e) {
      // A file without a valid header is of no use: remove it instead of leaving it behind.
      // Cleanup failures must not hide the error that matters.
      try {
        fsl.closeSync(fd);
      } catch {
        /* the descriptor is gone either way */
      }
      await fsl.unlink(path).catch(noop);
      throw fileSystemError(e, path, 'writing the header of the recording file');
    }
    return new WavAppendWriter(fsl, fd, path, format, syncIntervalMs, opts.clock ?? realClock);
  }

  /** Data bytes written to the file (reached the OS), whether synced yet or not. */
  get bytesWritten(): number {
    return this.written;
  }

  /** Data bytes fdatasync'ed and claimed by the header. */
  get bytesDurable(): number {
    return this.claimed;
  }

  get isRf64(): boolean {
    return needsRf64(this.claimed);
  }

  /** The first error the writer met (a failed write, sync or close), or null. */
  get lastError(): StenoError | null {
    return this.error;
  }

  /**
   * Appends `chunk` (a whole number of frames) after everything appended before.
   * Calls are serialized, so callers may fire several without awaiting; the
   * chunk is written from the caller's buffer without a copy, so it must not be
   * modified until the returned promise settles.
   */
  append(chunk: Uint8Array): Promise<void> {
    if (chunk.byteLength % this.blockAlign !== 0) {
      return Promise.reject(
        new StenoError(
          'INVALID_ARGUMENT',
          `An audio chunk of ${chunk.byteLength} bytes is not a whole number of ${this.blockAlign}-byte frames.`,
          'This is a bug in Steno; please report it.',
        ),
      );
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing || this.copying || this.fd < 0) return Promise.reject(this.closedError());
    // Fast path: nothing queued, so write at once instead of waiting a microtask turn.
    const p =
      this.appendsQueued === 0
        ? this.writeChunk(chunk)
        : this.appendTail.then(() => this.writeChunk(chunk));
    this.appendsQueued++;
    this.appendTail = p.then(this.onAppendSettled, this.onAppendSettled);
    return p;
  }

  /**
   * Makes everything appended before this call durable and claimed by the header.
   * Order: fdatasync, then patch the header to the synced length, then fdatasync
   * again. The second fdatasync writes back one page (the header; the file size did
   * not change, so no metadata journal commit) once per interval, off the append
   * path. It buys a header that is true on disk, not only in the page cache, so
   * `bytesDurable` holds across a power loss too and recovery finds a valid file
   * without repair. Skipping it would still be safe (the header never claims
   * unsynced audio) but would let the on-disk header lag by one interval.
   */
  sync(): Promise<void> {
    if (this.fd < 0) return Promise.reject(this.failure ?? this.closedError());
    const appendsBefore = this.appendTail;
    return this.enqueueSync(() => appendsBefore.then(() => this.syncNow()));
  }

  /**
   * Rescue for a file that was removed (its folder deleted) while open: the
   * open descriptor still reaches the audio, so it is synced, and the header
   * and every claimed byte are copied to `dest` (a temp file beside it, then a
   * rename). This is the one place the writer reads its file, and only after
   * recording into it ended: appends are refused from here on. Call before
   * `close()`; `dest` must not exist.
   */
  async copyTo(dest: string): Promise<void> {
    if (this.closing || this.fd < 0) throw this.failure ?? this.closedError();
    // From here on the file must not change under the copy: no appends, and
    // the timer's syncs find nothing to claim once this sync has run.
    this.copying = true;
    await this.sync();
    try {
      await saveDescriptorAs(this.fsl, this.fd, WAV_HEADER_BYTES + this.claimed, dest);
    } catch (e) {
      throw fileSystemError(e, dest, 'saving the audio again');
    }
  }

  /** Final sync, then closes the file. Idempotent: later calls return the same promise. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  /**
   * Error path: stops the timer and closes the descriptor synchronously, without a
   * sync. Audio written since the last sync stays in the file, unclaimed by the
   * header until `repairWavHeader` runs. After `close()` this only releases the object.
   */
  override dispose(): void {
    if (this.fd >= 0) {
      const fd = this.fd;
      this.fd = -1;
      try {
        this.fsl.closeSync(fd);
      } catch (e) {
        this.recordError(fileSystemError(e, this.path, 'closing the recording file'));
      }
    }
    super.dispose();
  }

  private async closeOnce(): Promise<void> {
    // Stop the timer first: nothing may start a sync while the final one runs.
    this._store.clear();
    await this.appendTail;
    await this.syncTail;
    if (this.fd < 0) {
      this.dispose();
      return;
    }
    const fd = this.fd;
    let finalError: StenoError | null = null;
    try {
      const whole = this.wholeFrames();
      if (this.written !== whole) {
        // A failed write left part of a frame behind the claimed audio: cut it off so
        // nothing half-written remains (the header excludes it either way).
        await this.fsl.ftruncate(fd, WAV_HEADER_BYTES + whole);
        this.written = whole;
      }
      await this.syncNow();
    } catch (e) {
      finalError = this.recordError(fileSystemError(e, this.path, 'finishing the recording file'));
    }
    this.fd = -1;
    try {
      await this.fsl.close(fd);
    } catch (e) {
      finalError ??= this.recordError(fileSystemError(e, this.path, 'closing the recording file'));
    }
    this.dispose();
    if (finalError) throw finalError;
  }

  private async writeChunk(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    let off = 0;
    try {
      while (off < chunk.byteLength) {
        // Closed by dispose() while queued: stop before the number can be reused by another file.
        if (this.fd < 0) throw this.closedError();
        const n = await this.fsl.write(
          this.fd,
          chunk,
          off,
          chunk.byteLength - off,
          WAV_HEADER_BYTES + this.written,
        );
        // A short write is legal (e.g. a disk just filling up); 0 would loop forever.
        if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
        off += n;
        this.written += n;
      }
    } catch (e) {
      throw this.fail(e, 'writing audio to the recording file');
    }
  }

  private onTimer(): void {
    if (this.syncRunning || this.fd < 0 || this.failure) return;
    if (this.wholeFrames() <= this.claimed) return;
    // Not waiting for queued appends: claim what is in the file now.
    // The failure is kept in lastError and reported by the next append or close.
    this.enqueueSync(() => this.syncNow()).catch(noop);
  }

  private enqueueSync(run: () => Promise<void>): Promise<void> {
    const p = this.syncTail.then(async () => {
      this.syncRunning = true;
      try {
        await run();
      } finally {
        this.syncRunning = false;
      }
    });
    this.syncTail = p.then(noop, noop);
    return p;
  }

  /** fdatasync, then claim exactly the whole frames that were in the file before it. */
  private async syncNow(): Promise<void> {
    if (this.fd < 0) return;
    // A retried fdatasync can succeed although the kernel dropped the pages the
    // failed one could not write (Linux marks them clean), so never claim past it.
    if (this.syncFailure) throw this.syncFailure;
    // Whole frames only: a failed write can leave part of a frame.
    const target = this.wholeFrames();
    if (target <= this.claimed) return;
    const fd = this.fd;
    try {
      await this.fsl.fdatasync(fd);
      for (const p of headerPatches(this.format, target)) {
        await writeFully(this.fsl, fd, p.bytes, p.offset);
      }
      await this.fsl.fdatasync(fd);
    } catch (e) {
      this.syncFailure = this.fail(e, 'saving the recording to disk');
      throw this.syncFailure;
    }
    this.claimed = target;
  }

  private wholeFrames(): number {
    return this.written - (this.written % this.blockAlign);
  }

  private fail(e: unknown, doing: string): StenoError {
    if (e instanceof StenoError) return this.recordError(e);
    const err = fileSystemError(e, this.path, doing);
    this.failure ??= err;
    return this.recordError(err);
  }

  private recordError(e: StenoError): StenoError {
    this.error ??= e;
    return e;
  }

  private closedError(): StenoError {
    return new StenoError(
      'INVALID_STATE',
      `The recording file ${this.path} is already closed.`,
      'This is a bug in Steno; please report it.',
    );
  }
}
