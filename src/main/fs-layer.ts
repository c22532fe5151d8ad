/**
 * A small, fd-based file-system layer. Writers take it as an option so tests can
 * inject the faults a real disk produces (full disk, permissions, I/O errors)
 * without needing a full disk.
 *
 * It wraps the callback API of node:fs rather than `FileHandle`: one promise per
 * call and no per-call result object (promisified `fs.write` resolves to
 * `{ bytesWritten, buffer }`), and no FileHandle close-on-GC behaviour that would
 * hide a descriptor leak from the leak tests.
 */
import fs from 'node:fs';

export interface FileSystemLayer {
  open(path: string, flags: string, mode?: number): Promise<number>;
  /** Positional write when `position` is a number; returns bytes written (may be short). */
  write(
    fd: number,
    buf: Uint8Array,
    off: number,
    len: number,
    position: number | null,
  ): Promise<number>;
  /** Positional read; returns bytes read (0 at end of file). Used by repair, never by the writer. */
  read(fd: number, buf: Uint8Array, off: number, len: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  ftruncate(fd: number, len: number): Promise<void>;
  close(fd: number): Promise<void>;
  /** For dispose() on error paths, which must be synchronous. */
  closeSync(fd: number): void;
  fstatSize(fd: number): Promise<number>;
  unlink(path: string): Promise<void>;
}

function voidCallback(resolve: () => void, reject: (e: unknown) => void) {
  return (err: NodeJS.ErrnoException | null): void => (err ? reject(err) : resolve());
}

export const nodeFileSystem: FileSystemLayer = {
  open: (path, flags, mode) =>
    new Promise((resolve, reject) => {
      fs.open(path, flags, mode ?? 0o666, (err, fd) => (err ? reject(err) : resolve(fd)));
    }),
  write: (fd, buf, off, len, position) =>
    new Promise((resolve, reject) => {
      fs.write(fd, buf, off, len, position, (err, n) => (err ? reject(err) : resolve(n)));
    }),
  read: (fd, buf, off, len, position) =>
    new Promise((resolve, reject) => {
      fs.read(fd, buf, off, len, position, (err, n) => (err ? reject(err) : resolve(n)));
    }),
  fdatasync: (fd) =>
    new Promise((resolve, reject) => fs.fdatasync(fd, voidCallback(resolve, reject))),
  ftruncate: (fd, len) =>
    new Promise((resolve, reject) => fs.ftruncate(fd, len, voidCallback(resolve, reject))),
  close: (fd) => new Promise((resolve, reject) => fs.close(fd, voidCallback(resolve, reject))),
  closeSync: (fd) => fs.closeSync(fd),
  fstatSize: (fd) =>
    new Promise((resolve, reject) => {
      fs.fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size)));
    }),
  unlink: (path) =>
    new Promise((resolve, reject) => fs.unlink(path, voidCallback(resolve, reject))),
};

/**
 * Writes all of `buf` at `position` (null: at the descriptor's offset, the end
 * for a file opened to append), continuing after short writes.
 */
export async function writeFully(
  fsl: FileSystemLayer,
  fd: number,
  buf: Uint8Array,
  position: number | null,
): Promise<void> {
  let off = 0;
  while (off < buf.byteLength) {
    const at = position === null ? null : position + off;
    const n = await fsl.write(fd, buf, off, buf.byteLength - off, at);
    if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
    off += n;
  }
}

export type FaultCode = 'ENOSPC' | 'EDQUOT' | 'EACCES' | 'EPERM' | 'EROFS' | 'EIO' | 'ENOENT';

export interface Fault {
  op: 'open' | 'write' | 'fdatasync';
  code: FaultCode;
  /**
   * The fault starts once more than this many bytes were written through the
   * layer (default 0: at once). For ENOSPC/EDQUOT only bytes that grow a file
   * count and only such writes fail, as on a real full disk, where overwriting
   * bytes already allocated (a header patch) still succeeds; the write that
   * crosses the limit is short, the next one fails.
   */
  afterBytes?: number;
}

/** Makes an Error shaped like the one node:fs raises. */
export function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: injected fault, ${syscall}`) as NodeJS.ErrnoException;
  e.code = code;
  e.syscall = syscall;
  return e;
}

/** Wraps `base` so that `fault` happens; for tests. */
export function withFaults(base: FileSystemLayer, fault: Fault): FileSystemLayer {
  const limit = fault.afterBytes ?? 0;
  const spaceFault = fault.code === 'ENOSPC' || fault.code === 'EDQUOT';
  let counted = 0;
  // Highest end offset written per descriptor, to tell growing writes from overwrites.
  // Bounded by the number of descriptors open through this layer; removed on close.
  const ends = new Map<number, number>();
  const forget = (fd: number) => ends.delete(fd);

  return {
    ...base,
    open: async (path, flags, mode) => {
      if (fault.op === 'open' && counted >= limit) throw errnoError(fault.code, 'open');
      const fd = await base.open(path, flags, mode);
      // Existing bytes of a reopened file are allocated already.
      ends.set(fd, await base.fstatSize(fd));
      return fd;
    },
    write: async (fd, buf, off, len, position) => {
      if (fault.op !== 'write')
        return track(fd, position, await base.write(fd, buf, off, len, position));
      const end = ends.get(fd) ?? 0;
      const at = position ?? end;
      const growing = Math.max(0, at + len - Math.max(at, end));
      const countable = spaceFault ? growing : len;
      if (spaceFault && growing === 0)
        return track(fd, position, await base.write(fd, buf, off, len, position));
      const room = limit - counted;
      if (room <= 0) throw errnoError(fault.code, 'write');
      if (countable > room) {
        // A full disk accepts what fits, then fails the next write.
        const fits = spaceFault ? len - growing + room : room;
        return track(fd, position, await base.write(fd, buf, off, fits, position));
      }
      return track(fd, position, await base.write(fd, buf, off, len, position));
    },
    fdatasync: async (fd) => {
      if (fault.op === 'fdatasync' && counted >= limit) throw errnoError(fault.code, 'fdatasync');
      return base.fdatasync(fd);
    },
    close: async (fd) => {
      forget(fd);
      return base.close(fd);
    },
    closeSync: (fd) => {
      forget(fd);
      base.closeSync(fd);
    },
  };

  function track(fd: number, position: number | null, n: number): number {
    const end = ends.get(fd) ?? 0;
    const at = position ?? end;
    const newEnd = Math.max(end, at + n);
    counted += spaceFault ? newEnd - end : n;
    ends.set(fd, newEnd);
    return n;
  }
}

/** A file's size now, or null when it cannot be read (gone, no permission). */
export async function fileSizeOrNull(path: string): Promise<number | null> {
  return fs.promises
    .stat(path)
    .then((s) => s.size)
    .catch(() => null);
}
