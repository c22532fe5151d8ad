import type { FileSystemLayer } from '../main/fs-layer';

/**
 * Wraps `base` so that a write of the one buffer `zeros` (all zero bytes) at
 * the end of a file extends the file with a hole instead of writing. A file
 * system reads a hole as zeros, so the file holds exactly the bytes the
 * caller wrote; only the cost differs: a test can grow a recording past
 * 4 GiB (RF64) in milliseconds, with a few kilobytes of disk. `zeros` should
 * come from `new Uint8Array(n)`, whose untouched pages are never resident.
 */
export function withSparseZeros(base: FileSystemLayer, zeros: Uint8Array): FileSystemLayer {
  // Not scanned for non-zero bytes: reading a gigabyte would cost what this layer saves.
  return {
    ...base,
    write: async (fd, buf, off, len, position) => {
      if (buf !== zeros) return base.write(fd, buf, off, len, position);
      const size = await base.fstatSize(fd);
      // Only an append can be a hole: anywhere else the zeros would replace bytes.
      if (position !== size) {
        throw new Error(
          `withSparseZeros: zeros written at ${position} of a ${size}-byte file; only appends can be holes`,
        );
      }
      await base.ftruncate(fd, size + len);
      return len;
    },
  };
}
