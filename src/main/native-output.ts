import fs from 'node:fs';
import path from 'node:path';
import { loadStdioRedirect, type StdioRedirectAddon } from '../../native/load-stdio-redirect';
import { StenoError } from '../core/errors';
import { Disposable, type IDisposable } from '../core/lifecycle';
import { onUnexpectedError } from '../core/unexpected-error';
import { FdTerminal, processTerminal, type Terminal } from './terminal';
import { sharedClock } from './services/aligned-clock';

/**
 * Keeps native libraries' own output off the CLI's stdout and stderr.
 *
 * alsa-lib prints its probing errors to fd 2 and PortAudio/naudiodon print
 * diagnostics with printf to fd 1; neither goes through process.stdout, so
 * JavaScript cannot intercept them. `captureNativeOutput` saves the original
 * fds 1 and 2 (close-on-exec copies the Terminal writes to) and points fds 1
 * and 2 at a log file, or with `verbose` at the original stderr, so that
 * `--json` on stdout stays clean either way.
 *
 * Consequences, by design:
 * - Once fds 1 and 2 are redirected, process.stdout, process.stderr and
 *   console.* write to the log too (they write to fds 1 and 2), and so do
 *   Node's own warnings and uncaught-exception traces. The CLI writes only
 *   through the returned Terminal.
 * - Child processes inherit fds 1 and 2, so a child started with inherited
 *   stdio writes its output to the log as well.
 * - printf buffering: plain Node turns libc's stdout buffering off at start
 *   (its stdout FILE is unbuffered, checked on Node 20), so printf output
 *   reaches fd 1 at once. Where it is buffered (libc block-buffers a non-tty
 *   fd 1, e.g. in an embedder that skips that step), it is flushed at exit to
 *   where fd 1 points then, the log; and every redirect, including the one
 *   that ends the capture, flushes it first, so buffered lines land where they
 *   were written, never on the terminal.
 *
 * Call it before any native library loads and prints. One capture at a time
 * per process.
 */

/** Default size at which the log is rotated. */
export const DEFAULT_NATIVE_LOG_MAX_BYTES = 1024 * 1024;
/** How often a running capture checks the log's size. */
export const DEFAULT_NATIVE_LOG_CHECK_INTERVAL_MS = 5_000;

export interface NativeOutputOptions {
  /** Where native output goes; appended to, created with its directory if missing. */
  logPath: string;
  /**
   * Bound of the log. Bound on disk: the log and one old copy (`<logPath>.1`),
   * each rotated once over `maxBytes`, at start and at every size check, so at
   * most 2 x maxBytes plus what native code writes within one check interval
   * per file (native writes cannot be stopped mid-way). Default 1 MiB.
   */
  maxBytes?: number;
  /** Native output to the original stderr instead of the log (stdout stays clean). */
  verbose?: boolean;
  /** Default DEFAULT_NATIVE_LOG_CHECK_INTERVAL_MS. */
  checkIntervalMs?: number;
  /** The addon to load; default the one the install step builds. Tests point it elsewhere. */
  addonPath?: string;
}

export interface NativeOutputCapture extends IDisposable {
  /** The CLI's output: the original stdout and stderr. */
  readonly terminal: Terminal;
  /** True while fds 1 and 2 are redirected. */
  readonly capturing: boolean;
  /** Where native output goes now; undefined when verbose or not capturing. */
  readonly logPath: string | undefined;
  /** Why output is not captured (addon missing, log not writable); undefined when capturing. */
  readonly problem: StenoError | undefined;
}

let active: CapturedOutput | null = null;
/** The log of the latest capture in this process, for `nativeLogTail` after it ended. */
let latestLogPath: string | undefined;
/** The "cannot capture" message is printed once per process, not once per capture. */
let problemReported = false;

/**
 * Starts capturing. Never fails for want of the addon or the log: it then
 * prints why on stderr (once per process; not on Windows, where capture is
 * simply unsupported) and returns a capture whose Terminal writes to
 * process.stdout and process.stderr, with native output reaching the terminal
 * as it always did.
 */
export function captureNativeOutput(options: NativeOutputOptions): NativeOutputCapture {
  if (active)
    throw new StenoError(
      'INTERNAL',
      'Native output is already being captured in this process.',
      'Dispose the first capture before starting another.',
    );
  const maxBytes = options.maxBytes ?? DEFAULT_NATIVE_LOG_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0)
    throw new StenoError(
      'INVALID_ARGUMENT',
      `The native log's size bound must be a positive whole number of bytes, not ${maxBytes}.`,
      'Pass a maxBytes above 0.',
    );
  const load = loadStdioRedirect({ addonPath: options.addonPath });
  if (!load.ok) return uncaptured(load.problem, !load.unsupported);
  let fds: RedirectedFds;
  try {
    fds = redirectStdio(load.addon, options.verbose ? undefined : options.logPath, maxBytes);
  } catch (e) {
    const problem =
      e instanceof StenoError
        ? e
        : new StenoError(
            'INTERNAL',
            `Native output could not be redirected: ${(e as Error).message}.`,
            'Run with --verbose to see native messages, and report this.',
            { cause: e },
          );
    return uncaptured(problem, true);
  }
  active = new CapturedOutput(load.addon, fds, {
    logPath: options.verbose ? undefined : path.resolve(options.logPath),
    maxBytes,
    checkIntervalMs: options.checkIntervalMs ?? DEFAULT_NATIVE_LOG_CHECK_INTERVAL_MS,
  });
  if (!options.verbose) latestLogPath = path.resolve(options.logPath);
  return active;
}

/**
 * The end of the native log of the latest capture in this process (also after
 * it ended): at most `maxBytes` bytes, whole lines, for error reports. Empty
 * when nothing was captured to a log.
 */
export function nativeLogTail(maxBytes = 8 * 1024): string {
  // printf output may still sit in libc's buffer: write it to the log first.
  active?.flushNative();
  return latestLogPath === undefined ? '' : readLogTail(latestLogPath, maxBytes);
}

/**
 * At most the last `maxBytes` bytes of the log at `logPath`, preceded by the
 * end of `<logPath>.1` when the current file is shorter (it was just
 * rotated). Starts at a line boundary. Missing files read as empty.
 */
export function readLogTail(logPath: string, maxBytes: number): string {
  const current = readFileTail(logPath, maxBytes);
  const older =
    current.length < maxBytes ? readFileTail(rotatedPath(logPath), maxBytes - current.length) : '';
  return older + current;
}

function readFileTail(file: string, maxBytes: number): string {
  if (maxBytes <= 0) return '';
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    const read = fs.readSync(fd, buffer, 0, buffer.length, start);
    let text = buffer.subarray(0, read);
    if (start > 0) {
      // The first line is cut: drop it (and any split UTF-8 sequence with it).
      const newline = text.indexOf(0x0a);
      text = newline < 0 ? text.subarray(text.length) : text.subarray(newline + 1);
    }
    return text.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

function rotatedPath(logPath: string): string {
  return `${logPath}.1`;
}

function uncaptured(problem: StenoError, report: boolean): NativeOutputCapture {
  const terminal = processTerminal();
  if (report && !problemReported) {
    problemReported = true;
    terminal.err(`steno: ${problem.toUserString()}\n`);
  }
  return new UncapturedOutput(terminal, problem);
}

class UncapturedOutput extends Disposable implements NativeOutputCapture {
  readonly capturing = false;
  readonly logPath = undefined;
  constructor(
    readonly terminal: Terminal,
    readonly problem: StenoError,
  ) {
    super();
  }
}

interface RedirectedFds {
  /** Copies of the original fds 1 and 2 (close-on-exec). */
  savedOut: number;
  savedErr: number;
  /** The log fds 1 and 2 point at; undefined when they point at savedErr (verbose). */
  logFd: number | undefined;
}

/**
 * Opens the log (rotated first if over `maxBytes`), saves fds 1 and 2, and
 * points both at the log, or at the original stderr when `logPath` is
 * undefined. Undoes what it did when a step fails.
 */
function redirectStdio(
  addon: StdioRedirectAddon,
  logPath: string | undefined,
  maxBytes: number,
): RedirectedFds {
  let logFd: number | undefined;
  let savedOut = -1;
  let savedErr = -1;
  let redirected = false;
  try {
    if (logPath !== undefined) logFd = openLog(logPath, maxBytes);
    savedOut = addon.dupCloexec(1);
    savedErr = addon.dupCloexec(2);
    const target = logFd ?? savedErr;
    redirected = true;
    addon.redirect(target, 1);
    addon.redirect(target, 2);
    return { savedOut, savedErr, logFd };
  } catch (e) {
    if (redirected) {
      addon.redirect(savedOut, 1);
      addon.redirect(savedErr, 2);
    }
    for (const fd of [savedOut, savedErr, logFd ?? -1]) if (fd >= 0) fs.closeSync(fd);
    throw e;
  }
}

/** Opens `logPath` for appending, rotating it to `.1` first when it is over `maxBytes`. */
function openLog(logPath: string, maxBytes: number): number {
  try {
    fs.mkdirSync(path.dirname(logPath), { recursive: true });
    let size = 0;
    try {
      size = fs.statSync(logPath).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (size > maxBytes) fs.renameSync(logPath, rotatedPath(logPath));
    const fd = fs.openSync(logPath, 'a', 0o600);
    // Runs append to one file: a header tells them apart when reading it.
    fs.writeSync(fd, `--- ${new Date().toISOString()} pid ${process.pid} ---\n`);
    return fd;
  } catch (e) {
    throw new StenoError(
      'DIR_UNWRITABLE',
      `Native libraries' messages cannot be kept off the terminal: their log ${logPath} cannot be written (${(e as Error).message}).`,
      'Check that the data directory is writable, or run with --verbose.',
      { cause: e },
    );
  }
}

class CapturedOutput extends Disposable implements NativeOutputCapture {
  readonly problem = undefined;
  readonly terminal: FdTerminal;
  private ended = false;

  constructor(
    private readonly addon: StdioRedirectAddon,
    private readonly fds: RedirectedFds,
    private readonly config: {
      logPath: string | undefined;
      maxBytes: number;
      checkIntervalMs: number;
    },
  ) {
    super();
    this.terminal = new FdTerminal(fds.savedOut, fds.savedErr);
    if (fds.logFd !== undefined) {
      // On the recording's clock, so the check shares its wake-ups; unref: it
      // must not keep a finished CLI alive.
      this._register(
        sharedClock.every('native-log-check', config.checkIntervalMs, () => this.rotateIfOver(), {
          unref: true,
        }),
      );
    }
  }

  get capturing(): boolean {
    return !this.ended;
  }

  get logPath(): string | undefined {
    return this.ended ? undefined : this.config.logPath;
  }

  flushNative(): void {
    this.addon.flush();
  }

  /** Mid-run rotation: a new log file takes over fds 1 and 2, the full one becomes `.1`. */
  private rotateIfOver(): void {
    const { logFd } = this.fds;
    const logPath = this.config.logPath;
    if (this.ended || logFd === undefined || logPath === undefined) return;
    try {
      if (fs.fstatSync(logFd).size <= this.config.maxBytes) return;
      try {
        fs.renameSync(logPath, rotatedPath(logPath));
      } catch (e) {
        // Removed from under us: the new file simply starts fresh.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const fresh = fs.openSync(logPath, 'a', 0o600);
      this.addon.redirect(fresh, 1);
      this.addon.redirect(fresh, 2);
      this.fds.logFd = fresh;
      fs.closeSync(logFd);
    } catch (e) {
      onUnexpectedError(e);
    }
  }

  override dispose(): void {
    if (this.ended) return;
    this.ended = true;
    super.dispose();
    // redirect flushes libc's buffer first, so pending printf output lands in the log.
    this.addon.redirect(this.fds.savedOut, 1);
    this.addon.redirect(this.fds.savedErr, 2);
    // fds 1 and 2 are the originals again; the saved copies may now be closed.
    this.terminal.retarget(1, 2);
    fs.closeSync(this.fds.savedOut);
    fs.closeSync(this.fds.savedErr);
    if (this.fds.logFd !== undefined) fs.closeSync(this.fds.logFd);
    if (active === this) active = null;
  }
}
