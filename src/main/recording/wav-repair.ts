/**
 * Crash recovery for recordings written by WavAppendWriter: after a crash the
 * header claims the audio of the last sync (or none), while the file holds more.
 * Audio always starts at byte 80 in Steno's layout, so the true size follows from
 * the file length alone; the header is rewritten in place and audio is not touched.
 */
import { StenoError, fileSystemError } from '../../core/errors';
import {
  WAV_HEADER_BYTES,
  assertPcmFormat,
  blockAlignOf,
  buildWavHeader,
  needsRf64,
  parseWavHeader,
  type PcmFormat,
} from '../../core/wav-format';
import { nodeFileSystem, type FileSystemLayer } from '../fs-layer';

export interface RepairOptions {
  /** Used when the existing header cannot be read (e.g. torn or zeroed). */
  format?: PcmFormat;
  fs?: FileSystemLayer;
  /** Cut a trailing partial frame off the file (default true). */
  truncatePartialFrame?: boolean;
}

export interface RepairResult {
  dataBytes: number;
  durationS: number;
  isRf64: boolean;
  /** Bytes cut off the end of the file (a partial frame); 0 when not truncating. */
  truncatedBytes: number;
  /**
   * The format the header now states: the one the file's own header held, or
   * `opts.format` when that header was unreadable. Callers record this one,
   * not the format they passed in, since it is what the audio is read as.
   */
  format: PcmFormat;
}

export async function repairWavHeader(
  path: string,
  opts: RepairOptions = {},
): Promise<RepairResult> {
  const fsl = opts.fs ?? nodeFileSystem;
  let fd: number;
  try {
    fd = await fsl.open(path, 'r+');
  } catch (e) {
    throw fileSystemError(e, path, 'opening a recording to repair it');
  }
  let closed = false;
  try {
    const fileBytes = await fsl.fstatSize(fd);
    if (fileBytes < WAV_HEADER_BYTES) {
      throw new StenoError(
        'WAV_UNREADABLE',
        `The recording ${path} is ${fileBytes} bytes long, shorter than its ${WAV_HEADER_BYTES}-byte header, so it holds no audio.`,
        'Nothing can be recovered from it; you may delete it.',
      );
    }
    const format = await readFormat(fsl, fd, path, opts.format);
    const blockAlign = blockAlignOf(format);
    const tail = (fileBytes - WAV_HEADER_BYTES) % blockAlign;
    const dataBytes = fileBytes - WAV_HEADER_BYTES - tail;
    const truncate = (opts.truncatePartialFrame ?? true) && tail > 0;
    if (truncate) await fsl.ftruncate(fd, WAV_HEADER_BYTES + dataBytes);
    // The whole 80-byte header, not only the sizes: its other fields may be damaged too.
    const header = buildWavHeader(format, dataBytes);
    let off = 0;
    while (off < header.length) {
      const n = await fsl.write(fd, header, off, header.length - off, off);
      if (n <= 0) throw Object.assign(new Error('write returned 0 bytes'), { code: 'EIO' });
      off += n;
    }
    await fsl.fdatasync(fd);
    closed = true;
    await fsl.close(fd);
    return {
      dataBytes,
      durationS: dataBytes / blockAlign / format.sampleRate,
      isRf64: needsRf64(dataBytes),
      truncatedBytes: truncate ? tail : 0,
      format,
    };
  } catch (e) {
    if (!closed) {
      try {
        fsl.closeSync(fd);
      } catch {
        /* the error below is the one that matters; the descriptor is released either way */
      }
    }
    if (e instanceof StenoError) throw e;
    throw fileSystemError(e, path, 'repairing a recording');
  }
}

async function readFormat(
  fsl: FileSystemLayer,
  fd: number,
  path: string,
  fallback: PcmFormat | undefined,
): Promise<PcmFormat> {
  const head = Buffer.alloc(WAV_HEADER_BYTES);
  const n = await fsl.read(fd, head, 0, head.length, 0);
  let parsed: ReturnType<typeof parseWavHeader> | null = null;
  let parseError: unknown = null;
  try {
    parsed = parseWavHeader(head.subarray(0, n));
  } catch (e) {
    parseError = e;
  }
  if (parsed && parsed.dataOffset === WAV_HEADER_BYTES) return parsed.format;
  if (parsed) {
    // Readable, but not Steno's layout: rewriting it as ours would turn header bytes into audio.
    throw new StenoError(
      'WAV_UNREADABLE',
      `${path} is a WAV file whose audio starts at byte ${parsed.dataOffset}, not one written by Steno.`,
      'Only recordings made by Steno can be repaired; open this file as an import instead.',
    );
  }
  if (fallback) {
    assertPcmFormat(fallback);
    return fallback;
  }
  throw new StenoError(
    'WAV_UNREADABLE',
    `The header of ${path} is unreadable (${(parseError as Error)?.message ?? parseError}) and no format was given.`,
    'Pass the recording format (from its metadata) to repair it.',
    { cause: parseError },
  );
}
