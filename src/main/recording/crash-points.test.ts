/**
 * Crash safety of the recording write path, step by step: the process dies
 * (CrashingFileSystem) at each step of a sync, of an RF64 promotion and of a
 * meta.json replacement, or the power goes (PowerLossFileSystem); recovery must
 * then turn what is on disk into a valid WAV that holds, sample for sample,
 * at least everything that was synced before.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../core/prng';
import {
  WAV_HEADER_BYTES,
  needsRf64,
  parseWavHeader,
  type ParsedWavHeader,
  type PcmFormat,
} from '../../core/wav-format';
import {
  CrashingFileSystem,
  PowerLossFileSystem,
  type CrashPoint,
  type LoggedOp,
} from '../../testing/crash-fs';
import { PatternCapture, patternBytes } from '../../testing/pattern-capture';
import { requireSox, soxInfo, soxRawSamples } from '../../testing/sox-reader';
import { withSparseZeros } from '../../testing/sparse-fs';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../../testing/tmp';
import { nodeFileSystem } from '../fs-layer';
import { TEMP_SUFFIX, tempPathFor } from '../temp-files';
import { MARKER_FILE, META_FILE, RecordingsStore, type RecordingMeta } from './recordings-store';
import { recoverRecordings } from './recovery';
import { RecordingSession } from './session';
import { WavAppendWriter } from './wav-writer';

const RATE = 48_000;
const BYTES_PER_S = RATE * 2;
const CHUNK_FRAMES = 960; // 20 ms
const MONO: PcmFormat = { sampleRate: RATE, channels: 1, bitsPerSample: 16 };
/** Crash points are taken once this much audio is in the file, so earlier syncs happened. */
const CRASH_AFTER_DATA_BYTES = 2 * BYTES_PER_S;
/** A watchdog that cannot fire during a test: a dead process has none. */
const NO_WATCHDOG_MS = 600_000;

let dir: string;
beforeAll(() => requireSox());
beforeEach(() => {
  dir = makeTempDir('steno-crash-');
});
afterEach(() => removeTempDir(dir));

async function tick(ms = 0): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what: string, done: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(2);
  }
}

/** The header as it is on disk, or the parse error when a crash tore it. */
function headerOnDisk(file: string): ParsedWavHeader | Error {
  const fd = fs.openSync(file, 'r');
  try {
    const h = Buffer.alloc(WAV_HEADER_BYTES);
    fs.readSync(fd, h, 0, h.length, 0);
    return parseWavHeader(h);
  } catch (e) {
    return e as Error;
  } finally {
    fs.closeSync(fd);
  }
}

/** The writer's invariant, checked on what a crash left: the header never claims more than the file holds. */
function expectHeaderWithinFile(file: string): void {
  const h = headerOnDisk(file);
  if (h instanceof Error) return;
  expect(WAV_HEADER_BYTES + h.dataBytes).toBeLessThanOrEqual(fs.statSync(file).size);
}

function dataBytesOf(end: number): number {
  return end - WAV_HEADER_BYTES;
}

function wholeFrames(bytes: number): number {
  return bytes - (bytes % 2);
}

interface Expectation {
  /** Bytes of audio recovery must give back: every whole frame that reached the file. */
  dataBytes: number;
  /** Bytes of audio synced before the crash: the floor. */
  syncedBytes: number;
  sampleRate?: number;
}

/**
 * Runs recovery and checks what every crash case must end with: one recording
 * recovered, its WAV valid to Steno's parser and to sox, holding exactly
 * `dataBytes` of the pattern (so at least what was synced), its meta marked
 * recovered, no marker and no temp file left.
 */
async function expectRecoveredExactly(
  store: RecordingsStore,
  id: string,
  want: Expectation,
): Promise<RecordingMeta> {
  const rate = want.sampleRate ?? RATE;
  expect(want.dataBytes).toBeGreaterThanOrEqual(want.syncedBytes);
  const report = await recoverRecordings(store);
  expect(report.failed).toEqual([]);
  expect(report.recovered.map((m) => m.id)).toEqual([id]);
  const file = store.audioPath(id);
  const bytes = fs.readFileSync(file);
  const header = parseWavHeader(bytes.subarray(0, WAV_HEADER_BYTES));
  expect(header).toEqual({
    format: { sampleRate: rate, channels: 1, bitsPerSample: 16 },
    dataOffset: WAV_HEADER_BYTES,
    dataBytes: want.dataBytes,
    isRf64: false,
  });
  expect(bytes.byteLength).toBe(WAV_HEADER_BYTES + want.dataBytes);
  const audio = bytes.subarray(WAV_HEADER_BYTES);
  const frames = want.dataBytes / 2;
  expect(audio.equals(patternBytes(0, frames))).toBe(true);
  for (const reader of ['sox', 'sndfile'] as const) {
    expect(soxInfo(file, reader), reader).toEqual({ sampleRate: rate, channels: 1, frames });
    expect(soxRawSamples(file, 0, reader).equals(audio), reader).toBe(true);
  }
  const meta = await store.readMeta(id);
  expect(meta).toMatchObject({ id, state: 'recovered' });
  expect(meta!.recoveredAt).toBeDefined();
  expect(meta!.durationS).toBeCloseTo(frames / rate, 9);
  expect(fs.existsSync(path.join(store.dirOf(id), MARKER_FILE))).toBe(false);
  expect(listFilesRecursive(store.root).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
  return meta!;
}

interface CrashedRecording {
  store: RecordingsStore;
  id: string;
  crash: CrashingFileSystem;
  audioPath: string;
}

/**
 * Records the pattern through a real session (ring, drain loop, writer with its
 * sync timer) until the crash point is reached; then the process is dead: the
 * device delivers a little more (its writes are lost), nothing is stopped or
 * finalized, and the session object is only released.
 */
async function recordUntilCrash(point: CrashPoint): Promise<CrashedRecording> {
  const store = new RecordingsStore(path.join(dir, 'recordings'));
  const crash = new CrashingFileSystem(nodeFileSystem, point);
  const capture = new PatternCapture({ sampleRate: RATE, framesPerChunk: CHUNK_FRAMES });
  // 50 ms sync interval and about 10x real time: a sync every ~0.5 s of audio.
  const session = await RecordingSession.start({
    store,
    capture,
    fs: crash,
    syncIntervalMs: 50,
    watchdogMs: NO_WATCHDOG_MS,
  });
  try {
    await waitFor('the crash point', () => {
      if (!crash.crashed) capture.pump(1);
      return crash.crashed;
    });
    capture.pump(5);
    capture.halt();
    await waitFor('the last writes', () => session.stats.writtenFrames === capture.framesDelivered);
    // Long enough for the writer's timer to try another sync into the dead layer.
    await tick(120);
  } finally {
    session.dispose();
  }
  expect(crash.lostOps).toBeGreaterThan(0);
  return { store, id: session.id, crash, audioPath: session.audioPath };
}

const pastThreshold = (op: LoggedOp): boolean =>
  dataBytesOf(op.endBefore) >= CRASH_AFTER_DATA_BYTES;

describe('a crash at each step of the write path', () => {
  it('after a data write that no sync covered yet: recovery keeps it too', async () => {
    const rec = await recordUntilCrash({
      at: (op) => op.region === 'data' && pastThreshold(op),
      when: 'after',
    });
    const { landedEnd, syncedEnd } = rec.crash.report(rec.audioPath);
    expect(dataBytesOf(syncedEnd)).toBeGreaterThan(0);
    expect(landedEnd).toBeGreaterThan(syncedEnd);
    expectHeaderWithinFile(rec.audioPath);
    await expectRecoveredExactly(rec.store, rec.id, {
      dataBytes: dataBytesOf(landedEnd),
      syncedBytes: dataBytesOf(syncedEnd),
    });
  });

  it('during a data write (3 bytes land: half a frame): recovery cuts the partial frame off', async () => {
    const rec = await recordUntilCrash({
      at: (op) => op.region === 'data' && pastThreshold(op),
      when: 'during',
      partialBytes: 3,
    });
    const { landedEnd, syncedEnd } = rec.crash.report(rec.audioPath);
    expect(landedEnd - rec.crash.crashedAt!.endBefore).toBe(3);
    expect(dataBytesOf(landedEnd) % 2).toBe(1);
    await expectRecoveredExactly(rec.store, rec.id, {
      dataBytes: wholeFrames(dataBytesOf(landedEnd)),
      syncedBytes: dataBytesOf(syncedEnd),
    });
  });

  it('after the fdatasync that made audio durable, before the header patch', async () => {
    const rec = await recordUntilCrash({
      at: (op) => op.kind === 'fdatasync' && op.headerWritesSinceSync === 0 && pastThreshold(op),
      when: 'after',
    });
    const { landedEnd, syncedEnd } = rec.crash.report(rec.audioPath);
    expect(syncedEnd).toBe(rec.crash.crashedAt!.endBefore);
    // The header still claims the sync before: the one that just ran is not in it.
    const stale = headerOnDisk(rec.audioPath) as ParsedWavHeader;
    expect(stale.dataBytes).toBeLessThan(dataBytesOf(syncedEnd));
    await expectRecoveredExactly(rec.store, rec.id, {
      dataBytes: dataBytesOf(landedEnd),
      syncedBytes: dataBytesOf(syncedEnd),
    });
  });

  it('between the two header patches (RIFF size written, data size not)', async () => {
    const rec = await recordUntilCrash({
      at: (op) => op.region === 'header' && op.headerWritesSinceSync === 0 && pastThreshold(op),
      when: 'after',
    });
    expect(rec.crash.crashedAt!.position).toBe(4);
    const { landedEnd, syncedEnd } = rec.crash.report(rec.audioPath);
    const torn = headerOnDisk(rec.audioPath) as ParsedWavHeader;
    expect(torn.dataBytes).toBeLessThan(dataBytesOf(syncedEnd));
    expectHeaderWithinFile(rec.audioPath);
    await expectRecoveredExactly(rec.store, rec.id, {
      dataBytes: dataBytesOf(landedEnd),
      syncedBytes: dataBytesOf(syncedEnd),
    });
  });

  it('during the data-size patch (2 of its 4 bytes land)', async () => {
    const rec = await recordUntilCrash({
      at: (op) => op.region === 'header' && op.headerWritesSinceSync === 1 && pastThreshold(op),
      when: 'during',
      partialBytes: 2,
    });
    expect(rec.crash.crashedAt!.position).toBe(76);
    const { landedEnd, syncedEnd } = rec.crash.report(rec.audioPath);
    expectHeaderWithinFile(rec.audioPath);
    await expectRecoveredExactly(rec.store, rec.id, {
      dataBytes: dataBytesOf(landedEnd),
      syncedBytes: dataBytesOf(syncedEnd),
    });
  });

  it('after the header patch, before the fdatasync that makes it durable', async () => {
    const rec = await recordUntilCrash({
      at: (op) => op.region === 'header' && op.headerWritesSinceSync === 1 && pastThreshold(op),
      when: 'after',
    });
    const { landedEnd, syncedEnd } = rec.crash.report(rec.audioPath);
    // The patch reached the file (the page cache survives a process crash): it claims the sync.
    const patched = rec.crash.crashedAt!.headerBytes!.readUInt32LE(0);
    expect((headerOnDisk(rec.audioPath) as ParsedWavHeader).dataBytes).toBe(patched);
    expect(patched).toBeLessThanOrEqual(dataBytesOf(syncedEnd));
    await expectRecoveredExactly(rec.store, rec.id, {
      dataBytes: dataBytesOf(landedEnd),
      syncedBytes: dataBytesOf(syncedEnd),
    });
  });

  it("after the header's fdatasync (a whole sync), before the next append", async () => {
    const rec = await recordUntilCrash({
      at: (op) => op.kind === 'fdatasync' && op.headerWritesSinceSync === 2 && pastThreshold(op),
      when: 'after',
    });
    const { landedEnd, syncedEnd } = rec.crash.report(rec.audioPath);
    expectHeaderWithinFile(rec.audioPath);
    await expectRecoveredExactly(rec.store, rec.id, {
      dataBytes: dataBytesOf(landedEnd),
      syncedBytes: dataBytesOf(syncedEnd),
    });
  });
});

/** Zeros appended as holes: 4 of them take the file to just below the 4 GiB RF64 limit. */
const HOLE_BYTES = 1024 * 1024 * 1024 - 64 * 1024;
const HOLES = 4;
/** Pattern audio after the holes: 4 s, enough to cross the limit. */
const TAIL_FRAMES = 4 * RATE;

describe('a crash during the RF64 promotion', () => {
  // One zeroed gigabyte, never touched: the sparse layer turns its writes into holes.
  const zeros = new Uint8Array(HOLE_BYTES);
  const holeFrames = (HOLES * HOLE_BYTES) / 2;

  it('the fixture crosses the limit with the tail (and not before)', () => {
    expect(needsRf64(HOLES * HOLE_BYTES)).toBe(false);
    expect(needsRf64(HOLES * HOLE_BYTES + TAIL_FRAMES * 2)).toBe(true);
  });

  /**
   * Grows a recording to just under 4 GiB (synced as plain RIFF), appends the
   * pattern tail and syncs, which promotes the file to RF64; the process dies
   * at `point` inside that sync. The writer is driven directly, in the same
   * folder layout and order as a session's start.
   */
  async function crossLimitUntilCrash(point: CrashPoint): Promise<CrashedRecording> {
    const store = new RecordingsStore(path.join(dir, 'recordings'));
    const id = RecordingsStore.newId();
    await store.create(id);
    const crash = new CrashingFileSystem(withSparseZeros(nodeFileSystem, zeros), point);
    const audioPath = store.audioPath(id);
    const writer = await WavAppendWriter.create(audioPath, MONO, {
      fs: crash,
      syncIntervalMs: 2000,
    });
    try {
      await store.writeMeta({
        version: 1,
        id,
        startedAt: new Date().toISOString(),
        device: 'pattern',
        sampleRate: RATE,
        channels: 1,
        durationS: 0,
        state: 'recording',
      });
      for (let i = 0; i < HOLES; i++) await writer.append(zeros);
      await writer.sync();
      expect(crash.crashed).toBe(false);
      expect(writer.isRf64).toBe(false);
      await writer.append(patternBytes(holeFrames, TAIL_FRAMES));
      await writer.sync();
      expect(crash.crashed).toBe(true);
      // Dead: what it goes on to write is lost.
      await writer.append(patternBytes(holeFrames + TAIL_FRAMES, CHUNK_FRAMES));
      await writer.sync();
    } finally {
      writer.dispose();
    }
    expect(crash.lostOps).toBeGreaterThan(0);
    return { store, id, crash, audioPath };
  }

  /** What recovery must make of it: an RF64 file of the holes and the whole tail, read by sox to its end. */
  async function expectRecoveredRf64(rec: CrashedRecording): Promise<void> {
    const dataBytes = HOLES * HOLE_BYTES + TAIL_FRAMES * 2;
    expect(rec.crash.report(rec.audioPath).landedEnd).toBe(WAV_HEADER_BYTES + dataBytes);
    const report = await recoverRecordings(rec.store);
    expect(report.failed).toEqual([]);
    expect(report.recovered.map((m) => m.id)).toEqual([rec.id]);
    const file = rec.audioPath;
    const st = fs.statSync(file);
    expect(st.size).toBe(WAV_HEADER_BYTES + dataBytes);
    // The holes are still holes: nothing wrote into the middle of the file.
    expect(st.blocks * 512).toBeLessThan(64 * 1024 * 1024);
    expect(headerOnDisk(file)).toEqual({
      format: MONO,
      dataOffset: WAV_HEADER_BYTES,
      dataBytes,
      isRf64: true,
    });
    const head = Buffer.alloc(16);
    const fd = fs.openSync(file, 'r');
    const lastBytes = Buffer.alloc(TAIL_FRAMES * 2 + 9600);
    try {
      fs.readSync(fd, head, 0, head.length, 0);
      fs.readSync(fd, lastBytes, 0, lastBytes.length, st.size - lastBytes.length);
    } finally {
      fs.closeSync(fd);
    }
    expect(head.toString('latin1', 0, 4)).toBe('RF64');
    expect(head.toString('latin1', 12, 16)).toBe('ds64');
    // The last 0.1 s of holes, then the tail, sample for sample: by our reader and by sox.
    const expected = Buffer.concat([Buffer.alloc(9600), patternBytes(holeFrames, TAIL_FRAMES)]);
    expect(lastBytes.equals(expected)).toBe(true);
    // libsndfile, as sox's own WAV reader counts an RF64 file by reading all 4 GiB of it.
    expect(soxInfo(file, 'sndfile')).toEqual({
      sampleRate: RATE,
      channels: 1,
      frames: dataBytes / 2,
    });
    expect(soxRawSamples(file, holeFrames - 4800, 'sndfile').equals(expected)).toBe(true);
    const meta = await rec.store.readMeta(rec.id);
    expect(meta).toMatchObject({ state: 'recovered' });
    expect(meta!.durationS).toBeCloseTo(dataBytes / 2 / RATE, 6);
    expect(listFilesRecursive(rec.store.root).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
    expect(fs.existsSync(path.join(rec.store.dirOf(rec.id), MARKER_FILE))).toBe(false);
  }

  const pastLimit = (op: LoggedOp): boolean => needsRf64(dataBytesOf(op.endBefore));
  const rf64Patch = (offset: number) => (op: LoggedOp) =>
    op.region === 'header' && op.position === offset && pastLimit(op);

  it('after the fdatasync of the crossing sync, before any patch: a plain RIFF header on a file past 4 GiB', async () => {
    const rec = await crossLimitUntilCrash({
      at: (op) => op.kind === 'fdatasync' && op.headerWritesSinceSync === 0 && pastLimit(op),
      when: 'after',
    });
    expect(headerOnDisk(rec.audioPath)).toMatchObject({
      isRf64: false,
      dataBytes: HOLES * HOLE_BYTES,
    });
    await expectRecoveredRf64(rec);
  });

  it("during the first patch (2 of 8 bytes: the magic reads 'RFFF'): recovery takes the format from meta.json", async () => {
    const rec = await crossLimitUntilCrash({ at: rf64Patch(0), when: 'during', partialBytes: 2 });
    const torn = headerOnDisk(rec.audioPath);
    expect(torn).toBeInstanceOf(Error);
    expect((torn as Error).message).toMatch(/RFFF/);
    await expectRecoveredRf64(rec);
  });

  for (const [offset, what] of [
    [0, "'RF64' and the RIFF size sentinel written, the chunk still 'JUNK'"],
    [12, "'ds64' written, its sizes still zero"],
    [20, 'the ds64 sizes written, the data size not yet the sentinel'],
    [76, 'all four patches written, before the fdatasync'],
  ] as const) {
    it(`after a patch: ${what}`, async () => {
      const rec = await crossLimitUntilCrash({ at: rf64Patch(offset), when: 'after' });
      expectHeaderWithinFile(rec.audioPath);
      await expectRecoveredRf64(rec);
    });
  }

  it('during the ds64 sizes (5 of 24 bytes land)', async () => {
    const rec = await crossLimitUntilCrash({ at: rf64Patch(20), when: 'during', partialBytes: 5 });
    await expectRecoveredRf64(rec);
  });
});

describe('a crash during the meta.json rename', () => {
  const RATE_16K = 16_000;

  /** A session at 16 kHz (not recovery's fallback rate), with the pattern pumped in and synced. */
  async function startSession(): Promise<{
    store: RecordingsStore;
    session: RecordingSession;
    capture: PatternCapture;
    metaPath: string;
  }> {
    const store = new RecordingsStore(path.join(dir, 'recordings'));
    const capture = new PatternCapture({ sampleRate: RATE_16K, framesPerChunk: 320 });
    const session = await RecordingSession.start({
      store,
      capture,
      syncIntervalMs: 2000,
      watchdogMs: NO_WATCHDOG_MS,
    });
    return { store, session, capture, metaPath: path.join(session.folder, META_FILE) };
  }

  /** What writeFileAtomic leaves when it dies after fsyncing its temp file and before the rename. */
  function leaveTempUnrenamed(metaPath: string, content: string): string {
    const tmp = tempPathFor(metaPath);
    fs.writeFileSync(tmp, content);
    return tmp;
  }

  function putMarkerBack(session: RecordingSession): void {
    fs.writeFileSync(path.join(session.folder, MARKER_FILE), `${process.pid}\n`);
  }

  it('the first meta.json: its temp file written, not renamed, so there is no meta.json at all', async () => {
    const { store, session, metaPath } = await startSession();
    const first = fs.readFileSync(metaPath, 'utf8');
    fs.rmSync(metaPath);
    leaveTempUnrenamed(metaPath, first);
    session.dispose();
    // The header was made durable before meta.json is first written: the WAV says 16 kHz.
    const meta = await expectRecoveredExactly(store, session.id, {
      dataBytes: 0,
      syncedBytes: 0,
      sampleRate: RATE_16K,
    });
    // With no meta.json left, recovery takes the format from the WAV, not its fallback.
    expect(meta).toMatchObject({ sampleRate: RATE_16K, channels: 1 });
  });

  it("pause's meta.json ('paused'): temp written, not renamed; the old 'recording' one stays", async () => {
    const { store, session, capture, metaPath } = await startSession();
    const recording = fs.readFileSync(metaPath, 'utf8');
    capture.pump(150); // 3 s
    await session.pause(); // syncs everything before it writes meta.json
    const paused = fs.readFileSync(metaPath, 'utf8');
    expect(JSON.parse(paused).state).toBe('paused');
    fs.writeFileSync(metaPath, recording);
    leaveTempUnrenamed(metaPath, paused);
    capture.halt();
    session.dispose();
    const meta = await expectRecoveredExactly(store, session.id, {
      dataBytes: 150 * 320 * 2,
      syncedBytes: 150 * 320 * 2,
      sampleRate: RATE_16K,
    });
    expect(meta.sampleRate).toBe(RATE_16K);
  });

  it("stop's meta.json ('complete'): temp written, not renamed; the marker stays", async () => {
    const { store, session, capture, metaPath } = await startSession();
    const recording = fs.readFileSync(metaPath, 'utf8');
    capture.pump(100);
    await session.stop();
    const complete = fs.readFileSync(metaPath, 'utf8');
    session.dispose();
    fs.writeFileSync(metaPath, recording);
    leaveTempUnrenamed(metaPath, complete);
    putMarkerBack(session);
    await expectRecoveredExactly(store, session.id, {
      dataBytes: 100 * 320 * 2,
      syncedBytes: 100 * 320 * 2,
      sampleRate: RATE_16K,
    });
  });

  it("stop's meta.json: its temp file cut short (the crash came while writing it)", async () => {
    const { store, session, capture, metaPath } = await startSession();
    const recording = fs.readFileSync(metaPath, 'utf8');
    capture.pump(100);
    await session.stop();
    const complete = fs.readFileSync(metaPath, 'utf8');
    session.dispose();
    fs.writeFileSync(metaPath, recording);
    leaveTempUnrenamed(metaPath, complete.slice(0, Math.floor(complete.length / 2)));
    putMarkerBack(session);
    await expectRecoveredExactly(store, session.id, {
      dataBytes: 100 * 320 * 2,
      syncedBytes: 100 * 320 * 2,
      sampleRate: RATE_16K,
    });
  });

  it("stop's meta.json renamed, nothing after it (the marker was never removed)", async () => {
    const { store, session, capture } = await startSession();
    capture.pump(100);
    await session.stop();
    session.dispose();
    putMarkerBack(session);
    const meta = await expectRecoveredExactly(store, session.id, {
      dataBytes: 100 * 320 * 2,
      syncedBytes: 100 * 320 * 2,
      sampleRate: RATE_16K,
    });
    expect(meta.stopReason).toBe('user');
  });
});

describe('a power cut', () => {
  it('between the fdatasync of the audio and that of the header: the header patch in the page cache is undone', async () => {
    const store = new RecordingsStore(path.join(dir, 'recordings'));
    const power = new PowerLossFileSystem(nodeFileSystem, { maxUnsyncedBytes: 2 * BYTES_PER_S });
    const cutting: { done?: ReturnType<PowerLossFileSystem['powerCut']> } = {};
    const crash = new CrashingFileSystem(power, {
      at: (op) => op.kind === 'fdatasync' && op.headerWritesSinceSync === 2 && pastThreshold(op),
      when: 'before',
      onCrash: () => {
        cutting.done = power.powerCut();
      },
    });
    const capture = new PatternCapture({ sampleRate: RATE, framesPerChunk: CHUNK_FRAMES });
    const session = await RecordingSession.start({
      store,
      capture,
      fs: crash,
      syncIntervalMs: 50,
      watchdogMs: NO_WATCHDOG_MS,
    });
    let reports: Awaited<ReturnType<PowerLossFileSystem['powerCut']>>;
    try {
      await waitFor('the crash point', () => {
        if (!crash.crashed) capture.pump(1);
        return crash.crashed;
      });
      capture.halt();
      reports = await cutting.done!;
      await waitFor(
        'the last writes',
        () => session.stats.writtenFrames === capture.framesDelivered,
      );
    } finally {
      session.dispose();
    }
    const audio = reports.find((r) => r.path === session.audioPath)!;
    // The two 4-byte size patches were put back; the audio since the first fdatasync was cut.
    expect(audio.restoredBytes).toBe(8);
    // What survived is what the sync's first fdatasync covered.
    const durableData = dataBytesOf(audio.durableBytes);
    const seenAbove = crash.report(session.audioPath);
    expect(audio.durableBytes).toBeGreaterThanOrEqual(seenAbove.syncedEnd);
    expect(audio.durableBytes).toBeLessThanOrEqual(seenAbove.landedEnd);
    const stale = headerOnDisk(session.audioPath) as ParsedWavHeader;
    expect(stale.dataBytes).toBeLessThan(durableData);
    // All the journal held at the cut: those two patches, not the audio.
    expect(power.journalHeldBytes).toBe(8);
    await expectRecoveredExactly(store, session.id, {
      dataBytes: durableData,
      syncedBytes: durableData,
    });
  });

  it('at seeded random moments while recording in real time: a valid WAV, at most 2 s lost, the rest sample-exact', async () => {
    const random = mulberry32(20261207);
    const cutTimesMs = Array.from({ length: 6 }, () => Math.round(500 + random() * 5500));
    const store = new RecordingsStore(path.join(dir, 'recordings'));
    // Every recording runs at once, each with its own disk whose power is cut at its moment.
    const runs = await Promise.all(
      cutTimesMs.map(async (cutMs) => {
        // A slow disk (each fdatasync 300 ms): a cut can find audio or a
        // header patch that the page cache held and no sync covered yet.
        const power = new PowerLossFileSystem(nodeFileSystem, {
          maxUnsyncedBytes: 2 * BYTES_PER_S,
          fdatasyncDelayMs: 300,
        });
        const capture = new PatternCapture({
          sampleRate: RATE,
          framesPerChunk: CHUNK_FRAMES,
          pacing: 'realtime',
        });
        // The writer's real sync interval (its default), real-time audio.
        const session = await RecordingSession.start({
          store,
          capture,
          fs: power,
          watchdogMs: NO_WATCHDOG_MS,
        });
        const startedAt = performance.now();
        try {
          await tick(cutMs);
          capture.halt();
          const deliveredFrames = capture.framesDelivered;
          const elapsedMs = performance.now() - startedAt;
          const reports = await power.powerCut();
          await waitFor('the last writes', () => session.stats.writtenFrames === deliveredFrames);
          const audio = reports.find((r) => r.path === session.audioPath)!;
          return { id: session.id, cutMs, elapsedMs, deliveredFrames, audio };
        } finally {
          session.dispose();
        }
      }),
    );
    const report = await recoverRecordings(store);
    expect(report.failed).toEqual([]);
    expect(report.recovered.map((m) => m.id).sort()).toEqual(runs.map((r) => r.id).sort());
    for (const run of runs) {
      const context = `cut at ${run.cutMs} ms`;
      const file = store.audioPath(run.id);
      const bytes = fs.readFileSync(file);
      const header = parseWavHeader(bytes.subarray(0, WAV_HEADER_BYTES));
      const frames = header.dataBytes / 2;
      expect(header, context).toMatchObject({ format: MONO, dataOffset: WAV_HEADER_BYTES });
      expect(bytes.byteLength, context).toBe(WAV_HEADER_BYTES + header.dataBytes);
      // Exactly what the last completed fdatasync covered, in whole frames.
      expect(header.dataBytes, context).toBe(wholeFrames(dataBytesOf(run.audio.durableBytes)));
      expect(bytes.subarray(WAV_HEADER_BYTES).equals(patternBytes(0, frames)), context).toBe(true);
      expect(soxInfo(file), context).toEqual({ sampleRate: RATE, channels: 1, frames });
      expect(soxRawSamples(file).equals(bytes.subarray(WAV_HEADER_BYTES)), context).toBe(true);
      const lostS = (run.deliveredFrames - frames) / RATE;
      expect(lostS, context).toBeGreaterThanOrEqual(0);
      expect(lostS, context).toBeLessThanOrEqual(2);
      expect((await store.readMeta(run.id))?.state, context).toBe('recovered');
    }
    // The cuts did take what the page cache held (audio, or a header patch
    // undone): the layer was tested, not only passed through.
    expect(runs.some((r) => r.audio.discardedBytes > 0 || r.audio.restoredBytes > 0)).toBe(true);
    expect(listFilesRecursive(store.root).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
  }, 60_000);
});
