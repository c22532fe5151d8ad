/**
 * File-system layers that simulate what a crash and a power cut leave on disk,
 * for tests of the recording write path and of recovery.
 *
 * - `CrashingFileSystem`: the process dies at a chosen operation. That
 *   operation (or, for 'during', all but a part of its bytes) and every later
 *   write, fdatasync and ftruncate are silently lost: no error, as a dead
 *   process sees none. What was written before stays, as the kernel keeps a
 *   dead process's writes.
 * - `PowerLossFileSystem`: the machine loses power. Every byte not covered by
 *   a completed fdatasync is gone (the page cache is lost) and each file is cut
 *   back to the length its last completed fdatasync made durable.
 *
 * Neither models directory entries (a file's creation, a rename, the removal
 * of a name): those go through node:fs outside these layers.
 */
import { WAV_HEADER_BYTES } from '../core/wav-format';
import { writeFully, type FileSystemLayer } from '../main/fs-layer';

export type LoggedOpKind = 'write' | 'fdatasync' | 'ftruncate';

export interface LoggedOp {
  /** Position in dispatch order. */
  index: number;
  kind: LoggedOpKind;
  path: string;
  /** Writes: 'header' when the write starts inside the file's first `headerBytes`. */
  region: 'header' | 'data' | null;
  /** Writes: the file offset; ftruncate: the new length; fdatasync: null. */
  position: number | null;
  /** Writes: bytes asked for. */
  length: number;
  /** Header writes: a copy of the bytes asked for (at most `headerBytes`); otherwise null. */
  headerBytes: Buffer | null;
  /** The highest end offset written to this path (or its length when opened) before this op. */
  endBefore: number;
  /**
   * Header writes to this path since its last fdatasync. Tells a sync's first
   * fdatasync (0: it makes audio durable) from its second (> 0: the header).
   */
  headerWritesSinceSync: number;
}

export interface CrashPoint {
  /** Picks the operation at which the process dies; evaluated on each op in dispatch order. */
  at: (op: LoggedOp) => boolean;
  /**
   * 'before': the op is lost; 'after': it completes, everything later is lost;
   * 'during' (writes only): `partialBytes` of it land, the rest is lost.
   */
  when: 'before' | 'after' | 'during';
  /** 'during': how many bytes land, at least 1 and fewer than the write's length. */
  partialBytes?: number;
  /** Runs synchronously at the crash, before any later op (e.g. to cut power there too). */
  onCrash?: (op: LoggedOp) => void;
}

export interface CrashPathReport {
  /** The file's end after the writes that landed (an append-only file: all its bytes). */
  landedEnd: number;
  /** The file's end when the last fdatasync that completed before the crash was called. */
  syncedEnd: number;
}

/** Ops logged before the crash; a test that runs more fails loudly (see `log`). */
const MAX_LOGGED_OPS = 20_000;

interface CrashPathState {
  landedEnd: number;
  syncedEnd: number;
  headerWritesSinceSync: number;
}

export class CrashingFileSystem implements FileSystemLayer {
  /** Ops up to and including the crashing one. Capacity MAX_LOGGED_OPS; past it, `log` throws. */
  private readonly ops: LoggedOp[] = [];
  private overflowed = false;
  /** One entry per descriptor open through the layer; removed on close. */
  private readonly fdPaths = new Map<number, string>();
  /** One entry per file opened through the layer (a test opens a few). */
  private readonly paths = new Map<string, CrashPathState>();
  private crashOp: LoggedOp | null = null;
  /** Writes, fdatasyncs and ftruncates dropped after the crash. */
  lostOps = 0;

  constructor(
    private readonly base: FileSystemLayer,
    private readonly point: CrashPoint,
    private readonly headerBytes = WAV_HEADER_BYTES,
  ) {}

  get crashed(): boolean {
    return this.crashOp !== null;
  }

  /** The op the process died at, or null. */
  get crashedAt(): LoggedOp | null {
    return this.crashOp;
  }

  get log(): readonly LoggedOp[] {
    if (this.overflowed) {
      throw new Error(`CrashingFileSystem: more than ${MAX_LOGGED_OPS} ops before the crash`);
    }
    return this.ops;
  }

  report(path: string): CrashPathReport {
    const st = this.paths.get(path);
    if (!st) throw new Error(`CrashingFileSystem: ${path} was never opened through this layer`);
    return { landedEnd: st.landedEnd, syncedEnd: st.syncedEnd };
  }

  open = async (path: string, flags: string, mode?: number): Promise<number> => {
    const fd = await this.base.open(path, flags, mode);
    if (!this.paths.has(path)) {
      const size = await this.base.fstatSize(fd);
      this.paths.set(path, { landedEnd: size, syncedEnd: size, headerWritesSinceSync: 0 });
    }
    this.fdPaths.set(fd, path);
    return fd;
  };

  write = async (
    fd: number,
    buf: Uint8Array,
    off: number,
    len: number,
    position: number | null,
  ): Promise<number> => {
    const st = this.stateOf(fd);
    const at = position ?? st.landedEnd;
    const inHeader = at < this.headerBytes;
    const verdict = this.dispatch({
      kind: 'write',
      path: this.fdPaths.get(fd)!,
      region: inHeader ? 'header' : 'data',
      position: at,
      length: len,
      headerBytes: inHeader
        ? Buffer.from(buf.subarray(off, off + Math.min(len, this.headerBytes)))
        : null,
      endBefore: st.landedEnd,
      headerWritesSinceSync: st.headerWritesSinceSync,
    });
    if (verdict === 'lost') return len;
    if (inHeader) st.headerWritesSinceSync++;
    if (verdict === 'run') {
      const n = await this.base.write(fd, buf, off, len, at);
      st.landedEnd = Math.max(st.landedEnd, at + n);
      return n;
    }
    const landing = this.point.partialBytes ?? Math.max(1, Math.floor(len / 2));
    if (!(landing >= 1 && landing < len)) {
      throw new Error(`CrashingFileSystem: partialBytes ${landing} for a ${len}-byte write`);
    }
    await writeFully(this.base, fd, buf.subarray(off, off + landing), at);
    st.landedEnd = Math.max(st.landedEnd, at + landing);
    // The process died partway: it never learns the write was short.
    return len;
  };

  fdatasync = async (fd: number): Promise<void> => {
    const st = this.stateOf(fd);
    const verdict = this.dispatch({
      kind: 'fdatasync',
      path: this.fdPaths.get(fd)!,
      region: null,
      position: null,
      length: 0,
      headerBytes: null,
      endBefore: st.landedEnd,
      headerWritesSinceSync: st.headerWritesSinceSync,
    });
    if (verdict === 'lost') return;
    const covers = st.landedEnd;
    st.headerWritesSinceSync = 0;
    await this.base.fdatasync(fd);
    st.syncedEnd = covers;
  };

  ftruncate = async (fd: number, len: number): Promise<void> => {
    const st = this.stateOf(fd);
    const verdict = this.dispatch({
      kind: 'ftruncate',
      path: this.fdPaths.get(fd)!,
      region: null,
      position: len,
      length: 0,
      headerBytes: null,
      endBefore: st.landedEnd,
      headerWritesSinceSync: st.headerWritesSinceSync,
    });
    if (verdict === 'lost') return;
    await this.base.ftruncate(fd, len);
    st.landedEnd = len;
    st.syncedEnd = Math.min(st.syncedEnd, len);
  };

  read = (fd: number, buf: Uint8Array, off: number, len: number, position: number) =>
    this.base.read(fd, buf, off, len, position);

  fstatSize = (fd: number): Promise<number> => this.base.fstatSize(fd);

  close = async (fd: number): Promise<void> => {
    this.fdPaths.delete(fd);
    await this.base.close(fd);
  };

  closeSync = (fd: number): void => {
    this.fdPaths.delete(fd);
    this.base.closeSync(fd);
  };

  unlink = (path: string): Promise<void> => this.base.unlink(path);

  /** Logs the op and decides its fate: run it, run part of it (the crash), or drop it. */
  private dispatch(fields: Omit<LoggedOp, 'index'>): 'run' | 'partial' | 'lost' {
    if (this.crashOp) {
      this.lostOps++;
      return 'lost';
    }
    const op: LoggedOp = { index: this.ops.length, ...fields };
    if (this.ops.length < MAX_LOGGED_OPS) this.ops.push(op);
    else this.overflowed = true;
    if (!this.point.at(op)) return 'run';
    if (this.point.when === 'during' && op.kind !== 'write') {
      throw new Error(`CrashingFileSystem: 'during' applies to writes, not to ${op.kind}`);
    }
    this.crashOp = op;
    this.point.onCrash?.(op);
    if (this.point.when === 'before') {
      this.lostOps++;
      return 'lost';
    }
    return this.point.when === 'during' ? 'partial' : 'run';
  }

  private stateOf(fd: number): CrashPathState {
    const path = this.fdPaths.get(fd);
    const st = path === undefined ? undefined : this.paths.get(path);
    if (!st) throw new Error(`CrashingFileSystem: descriptor ${fd} was not opened through it`);
    return st;
  }
}

export interface PowerLossOptions {
  /**
   * Cap on the undo journal: bytes that were durable and have been overwritten
   * since (header patches, a few dozen bytes per sync). Default 1 MiB. A write
   * that would pass it fails, and `powerCut()` throws the same error.
   */
  maxJournalBytes?: number;
  /**
   * Cap on the bytes a file may hold past what fdatasync made durable: the most
   * a power cut may take from it. A write that would pass it fails, and
   * `powerCut()` throws the same error. Default: no cap.
   */
  maxUnsyncedBytes?: number;
  /**
   * Each fdatasync takes at least this long, as on a slow disk (default 0):
   * a cut while one runs finds what it has not yet made durable in the page
   * cache, which a fast sync right after each write would leave no time for.
   */
  fdatasyncDelayMs?: number;
}

export interface PowerCutFileReport {
  path: string;
  /** The file's length after the cut: what its last completed fdatasync covered. */
  durableBytes: number;
  /** Bytes past that length that had been written and were discarded. */
  discardedBytes: number;
  /** Durable bytes that had been overwritten since and were put back (e.g. a header patch). */
  restoredBytes: number;
}

interface UndoRecord {
  seq: number;
  position: number;
  /** The bytes that were durable there before the overwrite. */
  bytes: Buffer;
}

interface PowerFileState {
  /** The file's length now, as the writes through the layer left it. */
  size: number;
  /** The length its last completed fdatasync covered. */
  durable: number;
  /** Overwrites of durable bytes since, oldest first. Bounded by maxJournalBytes (all files together). */
  undo: UndoRecord[];
  nextSeq: number;
  syncsInFlight: number;
  /** Largest length an in-flight fdatasync may make durable: overwrites below it are journaled too. */
  syncTarget: number;
  /** Most bytes the file held past its durable length at any time. */
  unsyncedHighWater: number;
}

const DEFAULT_MAX_JOURNAL_BYTES = 1 << 20;
/** The open flags whose effect on a file the layer models: create-new or open existing. */
const MODELED_FLAGS = new Set(['wx', 'wx+', 'r', 'r+']);

/**
 * The page cache as a journal: writes land in the real file at once, and the
 * layer remembers how to undo what no completed fdatasync covers. Bytes past
 * the durable length are not copied (the cut truncates them); only durable
 * bytes that get overwritten are saved first, and dropped when an fdatasync
 * covers the overwrite. So memory does not grow with the audio: the journal
 * holds the header patches of at most one sync interval.
 *
 * An fdatasync counts only once it has returned, and covers the file as it
 * was when it was called: a write racing it stays undoable.
 */
export class PowerLossFileSystem implements FileSystemLayer {
  /** One entry per file opened through the layer (a test opens a few); kept after close, as the page cache is. */
  private readonly files = new Map<string, PowerFileState>();
  /** One entry per descriptor open through the layer; removed on close. */
  private readonly fdPaths = new Map<number, string>();
  private journalBytes = 0;
  private readonly maxJournalBytes: number;
  private inFlight = 0;
  /** Resolves powerCut's wait for the in-flight ops; at most one (powerCut runs once). */
  private onIdle: (() => void) | null = null;
  private capError: Error | null = null;
  private dead = false;

  constructor(
    private readonly base: FileSystemLayer,
    private readonly options: PowerLossOptions = {},
  ) {
    this.maxJournalBytes = options.maxJournalBytes ?? DEFAULT_MAX_JOURNAL_BYTES;
  }

  /** Power is gone: every later write, fdatasync and ftruncate is lost. */
  get isCut(): boolean {
    return this.dead;
  }

  /** Bytes the journal holds now. */
  get journalHeldBytes(): number {
    return this.journalBytes;
  }

  /** The most bytes `path` held past its durable length at any time. */
  unsyncedHighWater(path: string): number {
    return this.fileState(path).unsyncedHighWater;
  }

  /**
   * Cuts the power: from now on every write is lost; once the ops already
   * running have returned, each file is rewritten to exactly its durable state
   * (overwritten durable bytes put back, the unsynced tail cut off).
   */
  async powerCut(): Promise<PowerCutFileReport[]> {
    if (this.dead) throw new Error('PowerLossFileSystem: the power was already cut');
    this.dead = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.onIdle = resolve));
    const reports: PowerCutFileReport[] = [];
    for (const [path, st] of this.files) {
      let fd: number;
      try {
        fd = await this.base.open(path, 'r+');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      try {
        let restoredBytes = 0;
        for (const u of [...st.undo].reverse()) {
          await writeFully(this.base, fd, u.bytes, u.position);
          restoredBytes += u.bytes.byteLength;
        }
        await this.base.ftruncate(fd, st.durable);
        await this.base.fdatasync(fd);
        reports.push({
          path,
          durableBytes: st.durable,
          discardedBytes: Math.max(0, st.size - st.durable),
          restoredBytes,
        });
      } finally {
        await this.base.close(fd);
      }
    }
    if (this.capError) throw this.capError;
    return reports;
  }

  open = async (path: string, flags: string, mode?: number): Promise<number> => {
    if (!MODELED_FLAGS.has(flags)) {
      throw new Error(`PowerLossFileSystem: open flags '${flags}' are not modeled`);
    }
    const fd = await this.base.open(path, flags, mode);
    if (!this.files.has(path)) {
      // What is in an existing file when it is opened is taken to be durable.
      const size = await this.base.fstatSize(fd);
      this.files.set(path, {
        size,
        durable: size,
        undo: [],
        nextSeq: 0,
        syncsInFlight: 0,
        syncTarget: 0,
        unsyncedHighWater: 0,
      });
    }
    this.fdPaths.set(fd, path);
    return fd;
  };

  write = async (
    fd: number,
    buf: Uint8Array,
    off: number,
    len: number,
    position: number | null,
  ): Promise<number> => {
    if (this.dead) return len;
    if (position === null) throw new Error('PowerLossFileSystem: positional writes only');
    const st = this.stateOf(fd);
    const end = position + len;
    const cap = this.options.maxUnsyncedBytes;
    if (cap !== undefined && end - st.durable > cap) {
      this.capError ??= new Error(
        `PowerLossFileSystem: ${end - st.durable} bytes would be unsynced, over the cap of ${cap}`,
      );
      throw this.capError;
    }
    const keepEnd = Math.min(end, Math.max(st.durable, st.syncTarget), st.size);
    if (position < keepEnd) await this.journal(fd, st, position, keepEnd - position);
    if (this.dead) return len;
    const n = await this.track(this.base.write(fd, buf, off, len, position));
    st.size = Math.max(st.size, position + n);
    st.unsyncedHighWater = Math.max(st.unsyncedHighWater, st.size - st.durable);
    return n;
  };

  fdatasync = async (fd: number): Promise<void> => {
    if (this.dead) return;
    const st = this.stateOf(fd);
    const target = st.size;
    const firstUncovered = st.nextSeq;
    st.syncsInFlight++;
    st.syncTarget = Math.max(st.syncTarget, target);
    try {
      const delayMs = this.options.fdatasyncDelayMs ?? 0;
      await this.track(
        delayMs > 0
          ? Promise.all([this.base.fdatasync(fd), sleep(delayMs)]).then(() => {})
          : this.base.fdatasync(fd),
      );
    } finally {
      if (--st.syncsInFlight === 0) st.syncTarget = 0;
    }
    // Returned after the cut: the power went first, so it made nothing durable.
    if (this.dead) return;
    st.durable = target;
    const covered = st.undo.filter((u) => u.seq < firstUncovered);
    for (const u of covered) this.journalBytes -= u.bytes.byteLength;
    st.undo = st.undo.filter((u) => u.seq >= firstUncovered);
  };

  ftruncate = async (fd: number, len: number): Promise<void> => {
    if (this.dead) return;
    const st = this.stateOf(fd);
    const keepEnd = Math.min(st.size, Math.max(st.durable, st.syncTarget));
    if (len < keepEnd) await this.journal(fd, st, len, keepEnd - len);
    if (this.dead) return;
    await this.track(this.base.ftruncate(fd, len));
    st.size = len;
  };

  read = (fd: number, buf: Uint8Array, off: number, len: number, position: number) =>
    this.base.read(fd, buf, off, len, position);

  fstatSize = (fd: number): Promise<number> => this.base.fstatSize(fd);

  close = async (fd: number): Promise<void> => {
    this.fdPaths.delete(fd);
    await this.base.close(fd);
  };

  closeSync = (fd: number): void => {
    this.fdPaths.delete(fd);
    this.base.closeSync(fd);
  };

  unlink = async (path: string): Promise<void> => {
    await this.base.unlink(path);
    this.files.delete(path);
  };

  /** Saves the durable bytes at [position, position + length) before they are overwritten or cut. */
  private async journal(
    fd: number,
    st: PowerFileState,
    position: number,
    length: number,
  ): Promise<void> {
    if (this.journalBytes + length > this.maxJournalBytes) {
      this.capError ??= new Error(
        `PowerLossFileSystem: the undo journal would hold ${this.journalBytes + length} bytes, over its cap of ${this.maxJournalBytes}`,
      );
      throw this.capError;
    }
    const bytes = Buffer.alloc(length);
    for (let got = 0; got < length;) {
      const n = await this.base.read(fd, bytes, got, length - got, position + got);
      if (n <= 0) throw new Error(`PowerLossFileSystem: could not read back ${length} bytes`);
      got += n;
    }
    st.undo.push({ seq: st.nextSeq++, position, bytes });
    this.journalBytes += length;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight++;
    return p.finally(() => {
      if (--this.inFlight === 0 && this.onIdle) {
        const resolve = this.onIdle;
        this.onIdle = null;
        resolve();
      }
    });
  }

  private stateOf(fd: number): PowerFileState {
    const path = this.fdPaths.get(fd);
    if (path === undefined) {
      throw new Error(`PowerLossFileSystem: descriptor ${fd} was not opened through it`);
    }
    return this.fileState(path);
  }

  private fileState(path: string): PowerFileState {
    const st = this.files.get(path);
    if (!st) throw new Error(`PowerLossFileSystem: ${path} was never opened through this layer`);
    return st;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
