import fs from 'node:fs';
import path from 'node:path';
import { nodeFileSystem, writeFully, type FileSystemLayer } from './fs-layer';

/**
 * Temp-file hygiene. Every temp file Steno makes carries the suffix
 * `.steno-tmp` and lives beside its final file (so a rename is atomic and the
 * sweep knows where to look). The owner removes it when its work ends; the
 * startup sweep removes what a crash left behind.
 */
export const TEMP_SUFFIX = '.steno-tmp';

let counter = 0;

/** A unique temp path beside `finalPath`. */
export function tempPathFor(finalPath: string): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  const dir = path.dirname(finalPath);
  return path.join(dir, `.${path.basename(finalPath)}.${process.pid}.${counter}${TEMP_SUFFIX}`);
}

/**
 * Writes `data` to `finalPath` atomically: temp file, fsync, rename, fsync of
 * the directory. The temp file is removed if anything fails.
 */
export async function writeFileAtomic(finalPath: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempPathFor(finalPath);
  let fd: number | null = null;
  try {
    fd = await nodeFileSystem.open(tmp, 'wx', 0o644);
    await writeFully(nodeFileSystem, fd, typeof data === 'string' ? Buffer.from(data) : data, null);
    await fsyncAsync(fd);
    await nodeFileSystem.close(fd);
    fd = null;
    await fs.promises.rename(tmp, finalPath);
    await fsyncDir(path.dirname(finalPath));
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
}

/** One buffer for every copy, whatever the file's length. */
const COPY_BUFFER_BYTES = 1 << 20;

/**
 * Saves the first `length` bytes readable through `fd` as `dest`, atomically
 * (a temp file beside it, fdatasync, rename, fsync of the directory): for a
 * file whose name was removed while Steno held it open. The temp file is
 * removed if anything fails; errors are the file system's own.
 */
export async function saveDescriptorAs(
  fsl: FileSystemLayer,
  fd: number,
  length: number,
  dest: string,
): Promise<void> {
  const tmp = tempPathFor(dest);
  let out: number | null = null;
  try {
    out = await fsl.open(tmp, 'wx', 0o644);
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(COPY_BUFFER_BYTES, length)));
    for (let pos = 0; pos < length;) {
      const n = await fsl.read(fd, buf, 0, Math.min(buf.byteLength, length - pos), pos);
      if (n <= 0) throw Object.assign(new Error('the file ended early'), { code: 'EIO' });
      await writeFully(fsl, out, buf.subarray(0, n), pos);
      pos += n;
    }
    await fsl.fdatasync(out);
    const closing = out;
    out = null;
    await fsl.close(closing);
    await fs.promises.rename(tmp, dest);
    await fsyncDir(path.dirname(dest));
  } catch (e) {
    if (out !== null) await fsl.close(out).catch(() => {});
    await fsl.unlink(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Removes leftover temp files below `root` (depth 2: the recordings dir and one
 * folder per recording). Returns the paths removed.
 */
export async function sweepTempFiles(root: string): Promise<string[]> {
  const removed: string[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isFile() && entry.name.endsWith(TEMP_SUFFIX)) {
        await fs.promises.rm(full, { force: true });
        removed.push(full);
      } else if (entry.isDirectory() && depth > 0) {
        await visit(full, depth - 1);
      }
    }
  };
  await visit(root, 1);
  return removed;
}

/** Makes a rename or a new entry in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await nodeFileSystem.open(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
}
