import fs from 'node:fs';
import path from 'node:path';

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
    fd = await openAsync(tmp, 'wx');
    await writeAllAsync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    await fsyncAsync(fd);
    await closeAsync(fd);
    fd = null;
    await fs.promises.rename(tmp, finalPath);
    await fsyncDir(path.dirname(finalPath));
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    await fs.promises.rm(tmp, { force: true });
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
  const fd = await openAsync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function openAsync(p: string, flags: string): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(p, flags, 0o644, (e, fd) => (e ? reject(e) : resolve(fd))),
  );
}

function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
}

function closeAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (e) => (e ? reject(e) : resolve())));
}

async function writeAllAsync(fd: number, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) {
    off += await new Promise<number>((resolve, reject) =>
      fs.write(fd, data, off, data.byteLength - off, null, (e, n) => (e ? reject(e) : resolve(n))),
    );
  }
}
