import fs from 'node:fs';
import path from 'node:path';
import { fileSystemError, StenoError } from '../../core/errors';
import { Disposable, toDisposable } from '../../core/lifecycle';
import type { Transcript, TranscriptSegment } from '../../core/transcript';
import { nodeFileSystem, writeFully, type FileSystemLayer } from '../fs-layer';
import { saveDescriptorAs, writeFileAtomic } from '../temp-files';

/**
 * The transcript of a recording is an append-only log beside its audio:
 *
 *   <recording>/transcript.jsonl   one JSON record per line:
 *     {"t":"segment","id","startS","endS","text","speaker","emb":[base64 float32]}
 *     {"t":"labels","labels":{"<id>":speaker}}   relabelling after re-clustering
 *   <recording>/speakers.json      {"names":{"0":"Alice"}}, replaced atomically
 *
 * Each record is written and synced before the next; a crash can leave at
 * most a truncated last line, which loading ignores. Nothing is kept in
 * memory beyond the records waiting for the disk: the log is the transcript.
 */
export const TRANSCRIPT_FILE = 'transcript.jsonl';
export const SPEAKERS_FILE = 'speakers.json';

export interface SegmentRecord extends TranscriptSegment {
  embeddings: Float32Array[];
}

type LogLine =
  | {
      t: 'segment';
      id: number;
      startS: number;
      endS: number;
      text: string;
      speaker: number;
      emb: string[];
    }
  | { t: 'labels'; labels: Record<string, number> };

/** Float32 embeddings travel in the log as base64 of their bytes (compact, exact). */
function encodeEmbedding(e: Float32Array): string {
  return Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64');
}

function decodeEmbedding(s: string): Float32Array {
  const bytes = Buffer.from(s, 'base64');
  const out = new Float32Array(Math.floor(bytes.byteLength / 4));
  new Uint8Array(out.buffer).set(bytes.subarray(0, out.byteLength));
  return out;
}

/**
 * Records not yet on disk. A line is about 1-2 KB and segments come every few
 * seconds, so this is minutes of a stalled disk; when full, the new record is
 * refused with an error (the audio is safe; the transcript can be redone
 * from it) instead of queueing without bound.
 */
export const MAX_PENDING_RECORDS = 256;

/**
 * Appends records to transcript.jsonl, each written whole and fdatasync'ed,
 * one after another, off the event loop: the main process never waits on the
 * disk (an fdatasync can take hundreds of milliseconds on a busy one).
 */
export class TranscriptLog extends Disposable {
  /** Tail of the write chain; never rejects. */
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;
  private closed = false;
  /**
   * A failed record may have left part of a line that could not be cut off:
   * the next record then starts on a new line, so only the fragment is lost.
   */
  private fragmentLeft = false;

  /** Opens (or creates) the log of the recording in `folder`, to append to it. */
  static open(folder: string, fsl: FileSystemLayer = nodeFileSystem): TranscriptLog {
    const file = path.join(folder, TRANSCRIPT_FILE);
    let fd: number;
    try {
      // '+': readable too, only so that restoreIfRemoved can copy it out.
      fd = fs.openSync(file, 'a+');
    } catch (e) {
      throw fileSystemError(e, file, 'opening the transcript');
    }
    return new TranscriptLog(file, fd, fs.fstatSync(fd).size, fsl);
  }

  private constructor(
    readonly file: string,
    private fd: number,
    /** Bytes of whole records in the file. */
    private size: number,
    private readonly fsl: FileSystemLayer,
  ) {
    super();
    // The descriptor closes once the records already accepted are written.
    this._register(
      toDisposable(() => {
        this.closed = true;
        void this.tail.then(() => this.fsl.close(this.fd).catch(() => {}));
      }),
    );
  }

  /** Records accepted and not yet on disk. */
  get pendingRecords(): number {
    return this.pending;
  }

  appendSegment(s: SegmentRecord): Promise<void> {
    return this.appendLine({
      t: 'segment',
      id: s.id,
      startS: s.startS,
      endS: s.endS,
      text: s.text,
      speaker: s.speaker,
      emb: s.embeddings.map(encodeEmbedding),
    });
  }

  appendLabels(labels: Map<number, number>): Promise<void> {
    return this.appendLine({
      t: 'labels',
      labels: Object.fromEntries([...labels].map(([k, v]) => [String(k), v])),
    });
  }

  /**
   * The recording's folder was deleted and remade (RecordingSession saves the
   * audio into a new one): the log still writes to the deleted file through
   * its descriptor. This copies what it holds to the log's path and goes on
   * appending there. Returns whether it did; a log still in place, or a
   * folder that was not remade, is left as it is.
   */
  restoreIfRemoved(): Promise<boolean> {
    return this.enqueue(() => this.restoreNow());
  }

  private async restoreNow(): Promise<boolean> {
    if (this.closed || fs.existsSync(this.file) || !fs.existsSync(path.dirname(this.file))) {
      return false;
    }
    let reopened: number;
    try {
      await saveDescriptorAs(this.fsl, this.fd, this.size, this.file);
      // Appends go to the restored file from now on, at its end.
      reopened = await this.fsl.open(this.file, 'a+');
    } catch (e) {
      throw fileSystemError(e, this.file, 'saving the transcript again');
    }
    const old = this.fd;
    this.fd = reopened;
    this.fragmentLeft = false;
    await this.fsl.close(old).catch(() => {});
    return true;
  }

  /** Resolves when every record accepted so far is on disk (or failed). */
  whenWritten(): Promise<void> {
    return this.tail;
  }

  private appendLine(line: LogLine): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new StenoError(
          'INVALID_STATE',
          `The transcript ${this.file} is already closed.`,
          'This is a bug in Steno; please report it.',
        ),
      );
    }
    if (this.pending >= MAX_PENDING_RECORDS) {
      return Promise.reject(
        new StenoError(
          'WRITE_FAILED',
          `The disk is not keeping up with the transcript (${this.pending} records waiting for ${this.file}); a segment was not saved.`,
          'The audio is safe; check the drive, then transcribe the recording again.',
        ),
      );
    }
    const bytes = Buffer.from(JSON.stringify(line) + '\n');
    this.pending++;
    return this.enqueue(async () => {
      try {
        await this.writeWhole(bytes);
      } finally {
        this.pending--;
      }
    });
  }

  /** Runs `op` after everything enqueued before it; a failure does not stop the chain. */
  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.tail.then(op);
    this.tail = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async writeWhole(record: Buffer): Promise<void> {
    const bytes = this.fragmentLeft ? Buffer.concat([Buffer.from('\n'), record]) : record;
    try {
      // The fragment is kept: count it, so that a later cut stops before it.
      if (this.fragmentLeft) this.size = await this.fsl.fstatSize(this.fd);
      // Opened to append: every write lands at the end.
      await writeFully(this.fsl, this.fd, bytes, null);
      await this.fsl.fdatasync(this.fd);
      this.size += bytes.byteLength;
      this.fragmentLeft = false;
    } catch (e) {
      // A short write then a failure (a disk filling up) leaves part of this
      // record: cut it off, or else the next record would be glued to it and
      // be lost with it when the log is read.
      await this.fsl.ftruncate(this.fd, this.size).then(
        () => (this.fragmentLeft = false),
        () => (this.fragmentLeft = true),
      );
      throw fileSystemError(e, this.file, 'saving the transcript');
    }
  }
}

/** Reads every segment record (with embeddings) in log order, labels applied. */
export async function readSegmentRecords(folder: string): Promise<SegmentRecord[]> {
  const file = path.join(folder, TRANSCRIPT_FILE);
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fileSystemError(e, file, 'reading the transcript');
  }
  const byId = new Map<number, SegmentRecord>();
  for (const raw of text.split('\n')) {
    if (!raw.trim()) continue;
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      continue; // a line cut by a crash
    }
    if (line.t === 'segment') {
      // A duplicate id (never written by Steno, but tolerated) keeps the first.
      if (byId.has(line.id)) continue;
      byId.set(line.id, {
        id: line.id,
        startS: line.startS,
        endS: line.endS,
        text: line.text,
        speaker: line.speaker,
        embeddings: line.emb.map(decodeEmbedding),
      });
    } else if (line.t === 'labels') {
      for (const [id, speaker] of Object.entries(line.labels)) {
        const s = byId.get(Number(id));
        if (s) s.speaker = speaker;
      }
    }
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

export async function readSpeakerNames(folder: string): Promise<Record<number, string>> {
  try {
    const parsed = JSON.parse(
      await fs.promises.readFile(path.join(folder, SPEAKERS_FILE), 'utf8'),
    ) as {
      names?: Record<string, string>;
    };
    const out: Record<number, string> = {};
    for (const [k, v] of Object.entries(parsed.names ?? {})) {
      if (typeof v === 'string') out[Number(k)] = v;
    }
    return out;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || e instanceof SyntaxError) return {};
    throw e;
  }
}

/** Renames a speaker of a recording; the name is persisted in speakers.json. */
export async function renameSpeaker(folder: string, speaker: number, name: string): Promise<void> {
  const clean = name.trim();
  if (!Number.isInteger(speaker) || speaker < 0) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      `"${speaker}" is not a speaker number.`,
      'Use a number shown in the transcript.',
    );
  }
  if (!clean || clean.length > 100) {
    throw new StenoError(
      'INVALID_ARGUMENT',
      'A speaker name must have 1 to 100 characters.',
      'Choose a shorter name.',
    );
  }
  const names = await readSpeakerNames(folder);
  names[speaker] = clean;
  await writeFileAtomic(
    path.join(folder, SPEAKERS_FILE),
    JSON.stringify({ names }, null, 2) + '\n',
  );
}

/** The whole transcript of a recording, as a person reads it. */
export async function loadTranscript(folder: string): Promise<Transcript> {
  const records = await readSegmentRecords(folder);
  return {
    segments: records.map(({ embeddings: _e, ...s }) => s),
    speakerNames: await readSpeakerNames(folder),
  };
}
