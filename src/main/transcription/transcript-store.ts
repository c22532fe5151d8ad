import fs from 'node:fs';
import path from 'node:path';
import { fileSystemError, StenoError } from '../../core/errors';
import { Disposable, toDisposable } from '../../core/lifecycle';
import type { Transcript, TranscriptSegment } from '../../core/transcript';
import { nodeFileSystem, writeFully, type FileSystemLayer } from '../fs-layer';
import { readLines } from './line-reader';
import { saveDescriptorAs, writeFileAtomic } from '../temp-files';

/**
 * The transcript of a recording is an append-only log beside its audio:
 *
 *   <recording>/transcript.jsonl   one JSON record per line:
 *     {"t":"segment","id","startS","endS","text","speaker","emb":[base64 float32]}
 *     {"t":"labels","labels":{"<id>":speaker},"overlap":[id]}
 *                                    relabelling after re-clustering; "overlap"
 *                                    (when present) lists every segment so far
 *                                    in which two voices overlap, replacing
 *                                    the marks of earlier records
 *     {"t":"commit","sample":N}      every utterance that ends before 16 kHz
 *                                    sample N is in the records above: a
 *                                    transcription stopped by a crash resumes
 *                                    from here (prepareLogForResume)
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

/** One line of the log, as JSON.parse gives it back. */
export type LogLine = SegmentLine | LabelsLine | CommitLine;
export interface SegmentLine {
  t: 'segment';
  id: number;
  startS: number;
  endS: number;
  text: string;
  speaker: number;
  /** The window embeddings, base64 of their float32 bytes (see decodeEmbedding). */
  emb: string[];
}
export interface LabelsLine {
  t: 'labels';
  labels: Record<string, number>;
  /** Ids of the segments with overlapped speech; absent: the marks stay as they were. */
  overlap?: number[];
}

export interface CommitLine {
  t: 'commit';
  /** 16 kHz sample index: the host's commit point when the record was written. */
  sample: number;
}

/** Float32 embeddings travel in the log as base64 of their bytes (compact, exact). */
function encodeEmbedding(e: Float32Array): string {
  return Buffer.from(e.buffer, e.byteOffset, e.byteLength).toString('base64');
}

export function decodeEmbedding(s: string): Float32Array {
  return new EmbeddingDecoder().decode(s).slice();
}

/**
 * Decodes embeddings into one reused buffer: a pass over a long log makes
 * no garbage per window. Its buffer grows to the largest embedding seen.
 */
export class EmbeddingDecoder {
  private bytes = Buffer.alloc(0);

  /** The embedding in `s`, as a view valid until the next decode. */
  decode(s: string): Float32Array {
    // base64 holds at most 3 bytes per 4 characters.
    const most = Math.ceil(s.length / 4) * 3;
    if (this.bytes.length < most) this.bytes = Buffer.alloc(Math.max(most, 1024));
    const length = this.bytes.write(s, 'base64');
    // Buffer.alloc is never pooled: the view starts at offset 0, 4-aligned.
    return new Float32Array(this.bytes.buffer, this.bytes.byteOffset, Math.floor(length / 4));
  }
}

export function segmentLine(s: SegmentRecord): SegmentLine {
  return {
    t: 'segment',
    id: s.id,
    startS: s.startS,
    endS: s.endS,
    text: s.text,
    speaker: s.speaker,
    emb: s.embeddings.map(encodeEmbedding),
  };
}

export function labelsLine(
  labels: Iterable<readonly [id: number, speaker: number]>,
  overlap?: Iterable<number>,
): LabelsLine {
  const out: Record<string, number> = {};
  for (const [id, speaker] of labels) out[String(id)] = speaker;
  return { t: 'labels', labels: out, ...(overlap ? { overlap: Array.from(overlap) } : {}) };
}

/** A record as the log stores it: one line of JSON. */
export function serializeLogLine(line: LogLine): string {
  return JSON.stringify(line) + '\n';
}

/** A line of the log, or null for one that is not JSON (cut by a crash) or blank. */
export function parseLogLine(raw: string): LogLine | null {
  if (!raw.trim()) return null;
  try {
    return JSON.parse(raw) as LogLine;
  } catch {
    return null;
  }
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
    return this.appendLine(segmentLine(s));
  }

  /**
   * One labels record (segment id -> speaker, and when given the ids of all
   * segments with overlapped speech): written whole or not at all.
   */
  appendLabels(
    labels: Iterable<readonly [id: number, speaker: number]>,
    overlap?: Iterable<number>,
  ): Promise<void> {
    return this.appendLine(labelsLine(labels, overlap));
  }

  /** One commit record: everything before `sample` is in the log above it. */
  appendCommit(sample: number): Promise<void> {
    return this.appendLine({ t: 'commit', sample });
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
    const bytes = Buffer.from(serializeLogLine(line));
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

/**
 * What one pass over the log keeps per segment, in log order: its id, its
 * speaker and its overlap mark with every labels record seen so far applied
 * (13 bytes a segment: 190 KB for 12 hours). The arrays grow by doubling with
 * the transcript.
 */
export class SegmentIndex {
  private idArray = new Float64Array(1024);
  private speakerArray = new Int32Array(1024);
  private overlapArray = new Uint8Array(1024);
  private length = 0;
  /** Ids came in increasing order (as Steno writes them): lookups are binary searches. */
  private increasing = true;
  /**
   * Only for a log whose ids are out of order (never written by Steno, but
   * tolerated): id -> position, one entry per segment.
   */
  private byId: Map<number, number> | null = null;

  get count(): number {
    return this.length;
  }

  idAt(position: number): number {
    return this.idArray[position]!;
  }

  speakerAt(position: number): number {
    return this.speakerArray[position]!;
  }

  overlapAt(position: number): boolean {
    return this.overlapArray[position] === 1;
  }

  /** The position of the segment with `id`, or -1. */
  positionOf(id: number): number {
    if (this.byId) return this.byId.get(id) ?? -1;
    let lo = 0;
    let hi = this.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.idArray[mid]!;
      if (v === id) return mid;
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Adds a segment; returns its position, or -1 for an id already there (the first is kept). */
  add(id: number, speaker: number): number {
    if (this.length > 0 && !(id > this.idArray[this.length - 1]!)) {
      if (this.positionOf(id) >= 0) return -1;
      if (this.increasing) {
        this.increasing = false;
        this.byId = new Map();
        for (let p = 0; p < this.length; p++) this.byId.set(this.idArray[p]!, p);
      }
    }
    if (this.length === this.idArray.length) {
      const ids = new Float64Array(this.length * 2);
      ids.set(this.idArray);
      this.idArray = ids;
      const speakers = new Int32Array(this.length * 2);
      speakers.set(this.speakerArray);
      this.speakerArray = speakers;
      const overlaps = new Uint8Array(this.length * 2);
      overlaps.set(this.overlapArray);
      this.overlapArray = overlaps;
    }
    this.idArray[this.length] = id;
    this.speakerArray[this.length] = speaker;
    this.byId?.set(id, this.length);
    return this.length++;
  }

  setSpeaker(position: number, speaker: number): void {
    this.speakerArray[position] = speaker;
  }

  /** Marks exactly the segments at `positions` as overlapped, and no others. */
  setOverlapped(positions: Iterable<number>): void {
    this.overlapArray.fill(0, 0, this.length);
    for (const p of positions) this.overlapArray[p] = 1;
  }

  /** Positions in the order of their ids (a transcript's reading order). */
  idOrder(): Int32Array {
    const order = Int32Array.from({ length: this.length }, (_, i) => i);
    if (!this.increasing) order.sort((a, b) => this.idArray[a]! - this.idArray[b]!);
    return order;
  }
}

/** The log's size now: a pass reads up to it, so that two passes see the same records. */
async function logSize(file: string): Promise<number> {
  try {
    return (await fs.promises.stat(file)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw fileSystemError(e, file, 'reading the transcript');
  }
}

/**
 * Every record of the log in file order, read line by line with a bounded
 * buffer (see readLines), up to `endByte` (default: its size now). Blank
 * lines and lines cut by a crash are skipped. A missing log has no records.
 */
export async function* readLogLines(folder: string, endByte?: number): AsyncGenerator<LogLine> {
  const file = path.join(folder, TRANSCRIPT_FILE);
  const end = endByte ?? (await logSize(file));
  if (end === 0) return;
  const lines = readLines(file, { endByte: end });
  try {
    for (;;) {
      let next: IteratorResult<string>;
      try {
        next = await lines.next();
      } catch (e) {
        throw fileSystemError(e, file, 'reading the transcript');
      }
      if (next.done) return;
      const line = parseLogLine(next.value);
      if (line) yield line;
    }
  } finally {
    // A caller that stops early (a page found) closes the file here.
    await lines.return(undefined);
  }
}

export interface LogPass {
  index: SegmentIndex;
  /** Bytes read: a second pass up to it sees the same records. */
  endByte: number;
}

/**
 * One pass over the log with the loading rules: a segment id seen before is
 * skipped (the first is kept), and a labels record relabels the segments
 * before it. `onSegment` gets each kept segment line and its position.
 */
export async function indexTranscriptLog(
  folder: string,
  onSegment?: (line: SegmentLine, position: number) => void,
  /** Read up to here (a first pass's endByte); default: the log's size now. */
  upToByte?: number,
): Promise<LogPass> {
  const endByte = upToByte ?? (await logSize(path.join(folder, TRANSCRIPT_FILE)));
  const index = new SegmentIndex();
  for await (const line of readLogLines(folder, endByte)) {
    if (line.t === 'segment') {
      const position = index.add(line.id, line.speaker);
      if (position >= 0) onSegment?.(line, position);
    } else if (line.t === 'labels') {
      for (const [id, speaker] of Object.entries(line.labels)) {
        const position = index.positionOf(Number(id));
        if (position >= 0) index.setSpeaker(position, speaker);
      }
      if (Array.isArray(line.overlap)) {
        index.setOverlapped(
          line.overlap.map((id) => index.positionOf(Number(id))).filter((p) => p >= 0),
        );
      }
    }
  }
  return { index, endByte };
}

export interface ResumePoint {
  /** 16 kHz sample to transcribe from: the last commit record's. */
  committedSample: number;
  /** Segments kept in the log (those before the commit). */
  segmentCount: number;
  /** Id of the last kept segment, or -1. */
  lastSegmentId: number;
}

/**
 * Makes the log of a transcription that was stopped (a crash, a quit, a
 * paused job) ready to be continued: everything after its last commit record
 * is cut off, so the audio after the commit point is transcribed once more
 * and every utterance ends up in the log exactly once (a segment after the
 * commit may be the first part of an utterance whose rest was never written).
 * Labels records after it go too: the re-clustering at the end writes new ones.
 * Without a commit record (or a log) the transcription starts over from 0.
 */
export async function prepareLogForResume(folder: string): Promise<ResumePoint> {
  const file = path.join(folder, TRANSCRIPT_FILE);
  const size = await logSize(file);
  let position = 0;
  let keepBytes = 0;
  let point: ResumePoint = { committedSample: 0, segmentCount: 0, lastSegmentId: -1 };
  let segments = 0;
  let lastId = -1;
  if (size > 0) {
    try {
      for await (const raw of readLines(file, { endByte: size })) {
        position += Buffer.byteLength(raw) + 1;
        const line = parseLogLine(raw);
        if (line?.t === 'segment' && line.id > lastId) {
          segments++;
          lastId = line.id;
        } else if (line?.t === 'commit' && Number.isInteger(line.sample) && line.sample >= 0) {
          keepBytes = Math.min(position, size);
          point = { committedSample: line.sample, segmentCount: segments, lastSegmentId: lastId };
        }
      }
    } catch (e) {
      throw fileSystemError(e, file, 'reading the transcript');
    }
  }
  if (keepBytes < size) {
    try {
      await fs.promises.truncate(file, keepBytes);
    } catch (e) {
      throw fileSystemError(e, file, 'preparing the transcript to continue');
    }
  }
  return point;
}

/**
 * Reads every segment record (with embeddings) in id order, labels applied.
 * Holds the whole transcript: for small ones and tests; a library reads
 * pages (readTranscriptPage).
 */
export async function readSegmentRecords(folder: string): Promise<SegmentRecord[]> {
  const records: SegmentRecord[] = [];
  const { index } = await indexTranscriptLog(folder, (line) => {
    records.push({
      id: line.id,
      startS: line.startS,
      endS: line.endS,
      text: line.text,
      speaker: line.speaker,
      embeddings: line.emb.map(decodeEmbedding),
    });
  });
  records.forEach((r, position) => {
    r.speaker = index.speakerAt(position);
    if (index.overlapAt(position)) r.overlap = true;
  });
  return records.sort((a, b) => a.id - b.id);
}

/** How many segments the transcript of `folder` has (one pass, 13 bytes a segment). */
export async function countSegments(folder: string): Promise<number> {
  return (await indexTranscriptLog(folder)).index.count;
}

export interface TranscriptPage {
  /** Segments offset.. in reading (id) order, at most `limit`, labels applied. */
  segments: TranscriptSegment[];
  speakerNames: Record<number, string>;
  /** Segments in the whole transcript. */
  total: number;
  offset: number;
}

/**
 * One page of a transcript without loading it: a first pass indexes every
 * segment with its final speaker (labels may come after the segments they
 * change), a second reads only the page's segments. Memory: the page, the
 * index (13 bytes a segment) and 5 bytes a segment to find the page.
 */
export async function readTranscriptPage(
  folder: string,
  offset: number,
  limit: number,
): Promise<TranscriptPage> {
  if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 0) {
    throw new RangeError(`bad transcript page: offset ${offset}, limit ${limit}`);
  }
  const { index, endByte } = await indexTranscriptLog(folder);
  const total = index.count;
  const first = Math.min(offset, total);
  const end = Math.min(total, offset + limit);
  const segments: TranscriptSegment[] = new Array<TranscriptSegment>(end - first);
  if (end > first) {
    // Where each segment goes in the page (-1: not in it), by log position.
    const slotOf = new Int32Array(total).fill(-1);
    const order = index.idOrder();
    for (let p = first; p < end; p++) slotOf[order[p]!] = p - first;
    // The second pass must keep the same segment of a repeated id as the first.
    const seen = new Uint8Array(total);
    let missing = end - first;
    for await (const line of readLogLines(folder, endByte)) {
      if (line.t !== 'segment') continue;
      const position = index.positionOf(line.id);
      if (position < 0 || seen[position]) continue;
      seen[position] = 1;
      const slot = slotOf[position]!;
      if (slot < 0) continue;
      segments[slot] = {
        id: line.id,
        startS: line.startS,
        endS: line.endS,
        text: line.text,
        speaker: index.speakerAt(position),
        ...(index.overlapAt(position) ? { overlap: true as const } : {}),
      };
      if (--missing === 0) break;
    }
  }
  return { segments, speakerNames: await readSpeakerNames(folder), total, offset };
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
