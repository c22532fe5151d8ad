import fs from 'node:fs';
import tty from 'node:tty';

/**
 * The CLI's own output channel. Everything the CLI means a person (or a
 * program reading `--json`) to see goes through a Terminal, never through
 * process.stdout or console.log: while native output is captured
 * (src/main/native-output.ts), fds 1 and 2 point at a log file, and the
 * Terminal is the only way left to the real stdout and stderr.
 */
export interface Terminal {
  /** Writes `text` as it is (the caller adds line ends) to standard output. */
  out(text: string): void;
  /** Writes `text` as it is to standard error. */
  err(text: string): void;
  readonly outIsTTY: boolean;
  readonly errIsTTY: boolean;
}

/** A Terminal over process.stdout and process.stderr: used when native output is not captured. */
export function processTerminal(): Terminal {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    outIsTTY: process.stdout.isTTY === true,
    errIsTTY: process.stderr.isTTY === true,
  };
}

/** The longest pause between two tries at a full non-blocking pipe. */
const MAX_RETRY_PAUSE_MS = 50;
const pauseCell = new Int32Array(new SharedArrayBuffer(4));

function pauseSync(ms: number): void {
  Atomics.wait(pauseCell, 0, 0, ms);
}

/**
 * A Terminal that writes to two file descriptors synchronously, so lines keep
 * their order across `out` and `err` and nothing is pending at process.exit.
 *
 * - Partial writes: the rest is written until the whole text is out.
 * - EAGAIN: the fds share their open file description with the original
 *   stdout/stderr, which libuv may have made non-blocking (it does for pipes
 *   once process.stdout is touched). A full pipe is waited on (pauses of 1 ms
 *   doubling to 50 ms) as a blocking write would wait: nothing is dropped, and
 *   a reader that never reads blocks the writer, as with console.log to a pipe.
 * - EPIPE: the reader has gone (`steno list | head`); there is nobody left to
 *   tell, so that stream's later writes are discarded. Other errors throw.
 */
export class FdTerminal implements Terminal {
  readonly outIsTTY: boolean;
  readonly errIsTTY: boolean;
  private readerGone = { out: false, err: false };

  constructor(
    private outFd: number,
    private errFd: number,
  ) {
    this.outIsTTY = tty.isatty(outFd);
    this.errIsTTY = tty.isatty(errFd);
  }

  out(text: string): void {
    if (!this.readerGone.out && !writeFully(this.outFd, text)) this.readerGone.out = true;
  }

  err(text: string): void {
    if (!this.readerGone.err && !writeFully(this.errFd, text)) this.readerGone.err = true;
  }

  /** Points the Terminal at other fds (the capture's owner does this before closing the old ones). */
  retarget(outFd: number, errFd: number): void {
    this.outFd = outFd;
    this.errFd = errFd;
  }
}

/** Writes all of `text` to `fd`; false when the reader has gone (EPIPE). */
function writeFully(fd: number, text: string): boolean {
  const bytes = Buffer.from(text, 'utf8');
  let offset = 0;
  let pauseMs = 1;
  while (offset < bytes.length) {
    try {
      offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
      pauseMs = 1;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') return false;
      if (code !== 'EAGAIN' && code !== 'EINTR') throw e;
      pauseSync(pauseMs);
      pauseMs = Math.min(pauseMs * 2, MAX_RETRY_PAUSE_MS);
    }
  }
  return true;
}
