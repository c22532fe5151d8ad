import crypto from 'node:crypto';
import fs from 'node:fs';
import { mediaError } from './media-errors';

/** Bytes hashed per read: one buffer, whatever the file's size. */
const HASH_CHUNK_BYTES = 1 << 20;

/**
 * SHA-256 of a file's bytes, hex, read in one reused buffer; `signal` stops
 * it between reads. The library keeps it beside a transcribed file's path,
 * so that a source that was moved, or changed in place, is recognised.
 */
export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw mediaError(file, missing ? 'missing' : 'unreadable', e);
  }
  try {
    const hash = crypto.createHash('sha256');
    const buffer = Buffer.alloc(HASH_CHUNK_BYTES);
    for (let at = 0; ;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
    return hash.digest('hex');
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw mediaError(file, 'unreadable', e);
  } finally {
    await handle.close().catch(() => {});
  }
}
