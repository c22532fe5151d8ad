import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StenoError } from '../../core/errors';
import { errnoError, nodeFileSystem, withFaults, type FileSystemLayer } from '../fs-layer';
import { assertNoLeak, measureLeak } from '../../testing/leak';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../../testing/tmp';
import { TEMP_SUFFIX } from '../temp-files';
import {
  MAX_PENDING_RECORDS,
  TRANSCRIPT_FILE,
  TranscriptLog,
  countSegments,
  labelsLine,
  loadTranscript,
  readSegmentRecords,
  readTranscriptPage,
  renameSpeaker,
  segmentLine,
  serializeLogLine,
  type SegmentRecord,
} from './transcript-store';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-transcript-');
});
afterEach(() => removeTempDir(dir));

function segment(id: number, speaker: number, text = `words at ${id}`): SegmentRecord {
  const emb = new Float32Array(256);
  for (let i = 0; i < emb.length; i++) emb[i] = Math.sin(id + i) / 3;
  return { id, startS: id / 16_000, endS: id / 16_000 + 1.25, text, speaker, embeddings: [emb] };
}

describe('TranscriptLog and loading', () => {
  it('overlap marks: each labels record that lists them replaces the earlier ones', async () => {
    const log = TranscriptLog.open(dir);
    for (const id of [16_000, 48_000, 96_000]) await log.appendSegment(segment(id, 0));
    await log.appendLabels([[48_000, 1]], [16_000, 48_000]);
    const marked = async () =>
      (await readTranscriptPage(dir, 0, 10)).segments.map((s) => s.overlap ?? false);
    expect(await marked()).toEqual([true, true, false]);
    expect((await readSegmentRecords(dir)).map((r) => r.overlap ?? false)).toEqual([
      true,
      true,
      false,
    ]);
    // A labels record without marks leaves them; one with marks replaces them.
    await log.appendLabels([[96_000, 1]]);
    expect(await marked()).toEqual([true, true, false]);
    await log.appendLabels([], [96_000, 123]); // 123: no such segment, ignored
    expect(await marked()).toEqual([false, false, true]);
    expect((await readTranscriptPage(dir, 0, 10)).segments.map((s) => s.speaker)).toEqual([
      0, 1, 1,
    ]);
    log.dispose();
    await log.whenWritten();
  });

  it('gives back every segment in order, embeddings bit-exact, relabelling applied', async () => {
    const log = TranscriptLog.open(dir);
    const written = [segment(16_000, 0), segment(48_000, 1), segment(96_000, 0, 'naïve café')];
    // Not awaited one by one: the log serializes them.
    await Promise.all(written.map((s) => log.appendSegment(s)));
    await log.appendLabels(new Map([[48_000, 0]]));
    log.dispose();

    const records = await readSegmentRecords(dir);
    expect(records.map((r) => r.id)).toEqual([16_000, 48_000, 96_000]);
    expect(records.map((r) => r.speaker)).toEqual([0, 0, 0]);
    expect(records[2]!.text).toBe('naïve café');
    expect(Buffer.from(records[1]!.embeddings[0]!.buffer)).toEqual(
      Buffer.from(written[1]!.embeddings[0]!.buffer),
    );
    const transcript = await loadTranscript(dir);
    expect(transcript.segments[0]).toEqual({
      id: 16_000,
      startS: 1,
      endS: 2.25,
      text: 'words at 16000',
      speaker: 0,
    });
  });

  it('a line cut by a crash is ignored; everything before it loads', async () => {
    const log = TranscriptLog.open(dir);
    await log.appendSegment(segment(16_000, 0));
    await log.appendSegment(segment(32_000, 1));
    log.dispose();
    const file = path.join(dir, TRANSCRIPT_FILE);
    const whole = fs.readFileSync(file, 'utf8');
    // Keep the first record and half of the second, as a crash mid-write would.
    const firstEnd = whole.indexOf('\n') + 1;
    fs.writeFileSync(file, whole.slice(0, firstEnd + (whole.length - firstEnd) / 2));
    expect((await readSegmentRecords(dir)).map((r) => r.id)).toEqual([16_000]);
  });

  it('a recording without a transcript loads as empty', async () => {
    expect(await loadTranscript(dir)).toEqual({ segments: [], speakerNames: {} });
  });

  it('keeps 200 appends fired at once in order, all on disk when whenWritten resolves', async () => {
    const log = TranscriptLog.open(dir);
    const appends: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) appends.push(log.appendSegment(segment((i + 1) * 1000, i % 3)));
    expect(log.pendingRecords).toBe(200);
    await log.whenWritten();
    expect(log.pendingRecords).toBe(0);
    await Promise.all(appends);
    log.dispose();
    const ids = (await readSegmentRecords(dir)).map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 200 }, (_, i) => (i + 1) * 1000));
  });

  it(`refuses a record beyond ${MAX_PENDING_RECORDS} waiting for a stalled disk, with a clear error`, async () => {
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    const slow: FileSystemLayer = {
      ...nodeFileSystem,
      fdatasync: async (fd) => {
        await stalled;
        return nodeFileSystem.fdatasync(fd);
      },
    };
    const log = TranscriptLog.open(dir, slow);
    const accepted: Promise<void>[] = [];
    for (let i = 0; i < MAX_PENDING_RECORDS; i++) accepted.push(log.appendSegment(segment(i, 0)));
    const refused = log.appendSegment(segment(MAX_PENDING_RECORDS, 0));
    await expect(refused).rejects.toMatchObject({ code: 'WRITE_FAILED' });
    const error = (await refused.catch((e: StenoError) => e)) as StenoError;
    expect(error.message).toMatch(/not keeping up/);
    expect(error.action).toMatch(/audio is safe/);
    release();
    await Promise.all(accepted);
    log.dispose();
    expect(await readSegmentRecords(dir)).toHaveLength(MAX_PENDING_RECORDS);
  });

  it('a full disk fails the append with DISK_FULL naming the file; later appends still run', async () => {
    const full = withFaults(nodeFileSystem, { op: 'write', code: 'ENOSPC' });
    const log = TranscriptLog.open(dir, full);
    const failed = log.appendSegment(segment(16_000, 0));
    await expect(failed).rejects.toMatchObject({ code: 'DISK_FULL' });
    expect(((await failed.catch((e: StenoError) => e)) as StenoError).message).toContain(
      TRANSCRIPT_FILE,
    );
    // The chain survives a failure: the next record is attempted (and fails the same way).
    await expect(log.appendSegment(segment(32_000, 0))).rejects.toMatchObject({
      code: 'DISK_FULL',
    });
    log.dispose();
  });

  /** Write 2 is short and write 3 fails (a disk filling up mid-record); the rest succeed. */
  function fillingUp(truncate: 'works' | 'fails'): FileSystemLayer {
    let writes = 0;
    return {
      ...nodeFileSystem,
      write: async (fd, buf, off, len, position) => {
        writes++;
        if (writes === 2) return nodeFileSystem.write(fd, buf, off, Math.floor(len / 2), position);
        if (writes === 3) throw errnoError('ENOSPC', 'write');
        return nodeFileSystem.write(fd, buf, off, len, position);
      },
      ftruncate: async (fd, len) => {
        if (truncate === 'fails') throw errnoError('EIO', 'ftruncate');
        return nodeFileSystem.ftruncate(fd, len);
      },
    };
  }

  for (const truncate of ['works', 'fails'] as const) {
    it(`a record cut short by a full disk costs only itself (cutting it off ${truncate})`, async () => {
      const log = TranscriptLog.open(dir, fillingUp(truncate));
      await log.appendSegment(segment(1000, 0));
      await expect(log.appendSegment(segment(2000, 1))).rejects.toMatchObject({
        code: 'DISK_FULL',
      });
      await log.appendSegment(segment(3000, 0));
      await log.appendSegment(segment(4000, 1));
      log.dispose();
      await log.whenWritten();
      expect((await readSegmentRecords(dir)).map((r) => r.id)).toEqual([1000, 3000, 4000]);
    });
  }

  it('after its folder was deleted and remade, saves what it holds there and appends there', async () => {
    const folder = path.join(dir, 'rec');
    fs.mkdirSync(folder);
    const log = TranscriptLog.open(folder);
    await log.appendSegment(segment(1000, 0));
    await log.appendSegment(segment(2000, 1));
    expect(await log.restoreIfRemoved()).toBe(false); // still in place
    fs.rmSync(folder, { recursive: true, force: true });
    expect(await log.restoreIfRemoved()).toBe(false); // no folder to save into
    fs.mkdirSync(folder);
    expect(await log.restoreIfRemoved()).toBe(true);
    await log.appendSegment(segment(3000, 0));
    await log.appendLabels(new Map([[2000, 0]]));
    log.dispose();
    await log.whenWritten();
    const records = await readSegmentRecords(folder);
    expect(records.map((r) => [r.id, r.speaker])).toEqual([
      [1000, 0],
      [2000, 0],
      [3000, 0],
    ]);
    expect(listFilesRecursive(dir).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
  });

  it('a folder that does not exist fails at open with DIR_VANISHED', () => {
    expect(() => TranscriptLog.open(path.join(dir, 'gone'))).toThrow(
      expect.objectContaining({ code: 'DIR_VANISHED' }),
    );
  });

  it('refuses appends after dispose', async () => {
    const log = TranscriptLog.open(dir);
    log.dispose();
    await expect(log.appendSegment(segment(1, 0))).rejects.toMatchObject({
      code: 'INVALID_STATE',
    });
  });

  it('append and load do not leak (1x/10x/100x)', async () => {
    let id = 0;
    const report = await measureLeak(async () => {
      const log = TranscriptLog.open(dir);
      await log.appendSegment(segment(++id, id % 2));
      log.dispose();
      await log.whenWritten();
      await loadTranscript(dir);
    });
    assertNoLeak(report);
  });
});

describe('readTranscriptPage and countSegments', () => {
  /**
   * A log with everything loading tolerates: ids out of order, an id twice
   * (the first is kept), a labels record naming a segment not written yet
   * (ignored for it) and one after the segments it changes (applied), blank
   * lines, and a last line cut by a crash.
   */
  function writeAwkwardLog(): void {
    const line = (r: SegmentRecord) => serializeLogLine(segmentLine(r));
    const text =
      line(segment(30_000, 0, 'third')) +
      line(segment(10_000, 1, 'first')) +
      serializeLogLine(labelsLine([[20_000, 7]])) +
      line(segment(10_000, 5, 'first again')) +
      '\n' +
      line(segment(20_000, 1, 'second')) +
      line(segment(40_000, 2, 'fourth')) +
      serializeLogLine(
        labelsLine([
          [10_000, 2],
          [40_000, 0],
          [99_000, 3],
        ]),
      ) +
      line(segment(50_000, 1, 'fifth')).slice(0, 40);
    fs.writeFileSync(path.join(dir, TRANSCRIPT_FILE), text);
  }

  const expected = [
    ['first', 2],
    ['second', 1],
    ['third', 0],
    ['fourth', 0],
  ];

  it('gives the segments in reading order with every label applied, page by page', async () => {
    writeAwkwardLog();
    await renameSpeaker(dir, 2, 'Ada');
    expect(await countSegments(dir)).toBe(4);
    for (const [offset, limit] of [
      [0, 4],
      [0, 2],
      [1, 2],
      [3, 10],
    ] as const) {
      const page = await readTranscriptPage(dir, offset, limit);
      expect(page.total).toBe(4);
      expect(page.offset).toBe(offset);
      expect(page.speakerNames).toEqual({ 2: 'Ada' });
      expect(page.segments.map((s) => [s.text, s.speaker])).toEqual(
        expected.slice(offset, offset + limit),
      );
    }
    // The same as loading the whole transcript.
    const whole = await loadTranscript(dir);
    expect((await readTranscriptPage(dir, 0, 100)).segments).toEqual(whole.segments);
    expect(whole.segments.map((s) => [s.text, s.speaker])).toEqual(expected);
  });

  it('past the end, with no limit, and without a log: no segments', async () => {
    expect(await readTranscriptPage(dir, 0, 10)).toEqual({
      segments: [],
      speakerNames: {},
      total: 0,
      offset: 0,
    });
    expect(await countSegments(dir)).toBe(0);
    writeAwkwardLog();
    expect((await readTranscriptPage(dir, 4, 10)).segments).toEqual([]);
    expect((await readTranscriptPage(dir, 9, 10)).total).toBe(4);
    expect((await readTranscriptPage(dir, 1, 0)).segments).toEqual([]);
    await expect(readTranscriptPage(dir, -1, 10)).rejects.toThrow(RangeError);
    await expect(readTranscriptPage(dir, 0.5, 10)).rejects.toThrow(RangeError);
  });

  it('a page of a log written by TranscriptLog, relabelled after its segments', async () => {
    const log = TranscriptLog.open(dir);
    for (let i = 1; i <= 200; i++) void log.appendSegment(segment(i * 1000, i % 3));
    await log.appendLabels(new Map([[150_000, 9]]));
    log.dispose();
    await log.whenWritten();
    const page = await readTranscriptPage(dir, 148, 3);
    expect(page.total).toBe(200);
    expect(page.segments.map((s) => [s.id, s.speaker])).toEqual([
      [149_000, 2],
      [150_000, 9],
      [151_000, 1],
    ]);
  });

  it('page reads do not leak (1x/10x/100x)', async () => {
    const log = TranscriptLog.open(dir);
    for (let i = 1; i <= 50; i++) void log.appendSegment(segment(i * 1000, i % 3));
    log.dispose();
    await log.whenWritten();
    const report = await measureLeak(async () => {
      await readTranscriptPage(dir, 10, 5);
    });
    assertNoLeak(report);
  });
});

describe('renameSpeaker', () => {
  it('persists names atomically, and they come back with the transcript', async () => {
    await renameSpeaker(dir, 0, '  Ada ');
    await renameSpeaker(dir, 2, 'Grace');
    await renameSpeaker(dir, 0, 'Ada Lovelace');
    const transcript = await loadTranscript(dir);
    expect(transcript.speakerNames).toEqual({ 0: 'Ada Lovelace', 2: 'Grace' });
    expect(listFilesRecursive(dir).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
  });

  it('refuses a speaker that is not a number and an empty or overlong name', async () => {
    await expect(renameSpeaker(dir, -1, 'X')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(renameSpeaker(dir, 1.5, 'X')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(renameSpeaker(dir, 0, '   ')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(renameSpeaker(dir, 0, 'x'.repeat(101))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect((await loadTranscript(dir)).speakerNames).toEqual({});
  });
});
