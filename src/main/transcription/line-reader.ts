import { nodeFileSystem, type FileSystemLayer } from '../fs-layer';

/** Bytes read from the file at a time: the reader's fixed buffer. */
export const LINE_READ_CHUNK_BYTES = 64 * 1024;

export interface ReadLinesOptions {
  /** Read up to this byte offset, not past it: what a first pass saw, a second one sees. */
  endByte: number;
  chunkBytes?: number;
  fsl?: FileSystemLayer;
}

/**
 * The lines of `file` from its start up to `endByte`, in order, as strings
 * without their '\n'; a last line without one (cut by a crash) is yielded too,
 * for the parser to refuse. Memory: one read buffer of `chunkBytes`, plus the
 * line being gathered when it spans chunks (a line is never cut: the pieces
 * are as long as the longest line). UTF-8 never has a 0x0A byte inside a
 * character, so splitting bytes at '\n' splits characters nowhere.
 *
 * The descriptor is closed when the loop over the lines ends, early or not.
 * Errors are the file system's (the caller names the file to a person).
 */
export async function* readLines(file: string, opts: ReadLinesOptions): AsyncGenerator<string> {
  const fsl = opts.fsl ?? nodeFileSystem;
  const chunk = Buffer.allocUnsafe(opts.chunkBytes ?? LINE_READ_CHUNK_BYTES);
  const fd = await fsl.open(file, 'r');
  try {
    /** Pieces of a line that spans chunks (copies: the read buffer is reused). */
    let pieces: Buffer[] = [];
    let position = 0;
    while (position < opts.endByte) {
      const want = Math.min(chunk.length, opts.endByte - position);
      const got = await fsl.read(fd, chunk, 0, want, position);
      if (got === 0) break; // the file got shorter than endByte
      position += got;
      let start = 0;
      for (;;) {
        const newline = chunk.indexOf(0x0a, start);
        if (newline < 0 || newline >= got) break;
        if (pieces.length === 0) {
          yield chunk.toString('utf8', start, newline);
        } else {
          pieces.push(chunk.subarray(start, newline));
          const line = Buffer.concat(pieces).toString('utf8');
          pieces = [];
          yield line;
        }
        start = newline + 1;
      }
      if (start < got) pieces.push(Buffer.from(chunk.subarray(start, got)));
    }
    if (pieces.length > 0) yield Buffer.concat(pieces).toString('utf8');
  } finally {
    await fsl.close(fd).catch(() => {});
  }
}
