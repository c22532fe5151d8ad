import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWavHeader, WAV_HEADER_BYTES } from '../../core/wav-format';
import { StenoError } from '../../core/errors';
import { SyntheticCapture } from '../capture/synthetic-capture';
import { nodeFileSystem, withFaults } from '../fs-layer';
import { RecordingsStore, MARKER_FILE } from './recordings-store';
import { RecordingSession, WRITE_TIMER } from './session';
import type { FileSystemLayer } from '../fs-layer';
import { AudioClock } from '../../testing/audio-clock';
import { recoverRecordings } from './recovery';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../../testing/tmp';
import { assertNoLeak, measureLeak } from '../../testing/leak';
import { TEMP_SUFFIX } from '../temp-files';

const RATE = 48_000;
const CHUNK_FRAMES = 960; // 20 ms

let dir: string;
beforeEach(() => {
  dir = makeTempDir();
});
afterEach(() => {
  removeTempDir(dir);
});

function manualCapture(channels = 1): SyntheticCapture {
  return new SyntheticCapture({
    format: { sampleRate: RATE, channels },
    framesPerChunk: CHUNK_FRAMES,
    pacing: 'manual',
  });
}

function readWav(file: string) {
  const buf = fs.readFileSync(file);
  return { header: parseWavHeader(buf.subarray(0, WAV_HEADER_BYTES)), size: buf.byteLength, buf };
}

async function tick(ms = 0): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Records 1 s, deletes the recording's folder, and goes on until the session fails. */
async function removeFolderWhileRecording(
  session: RecordingSession,
  capture: SyntheticCapture,
): Promise<StenoError> {
  const failed = new Promise<StenoError>((resolve) => session.onDidFail(resolve));
  capture.pump(50);
  while (session.stats.writtenFrames < 50 * CHUNK_FRAMES) await tick(5);
  fs.rmSync(session.folder, { recursive: true, force: true });
  const timer = setInterval(() => capture.pump(1), 20);
  try {
    return await failed;
  } finally {
    clearInterval(timer);
  }
}

describe('RecordingSession', () => {
  it('writes every captured frame, then finalizes meta and removes the marker', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const session = await RecordingSession.start({ store, capture });
    for (let i = 0; i < 100; i++) {
      capture.pump(1);
      if (i % 10 === 0) await tick();
    }
    const meta = await session.stop();
    session.dispose();
    expect(meta.state).toBe('complete');
    expect(meta.durationS).toBeCloseTo((100 * CHUNK_FRAMES) / RATE, 6);
    const wav = readWav(store.audioPath(meta.id));
    expect(wav.header.dataBytes).toBe(100 * CHUNK_FRAMES * 2);
    expect(wav.size).toBe(WAV_HEADER_BYTES + 100 * CHUNK_FRAMES * 2);
    expect(fs.existsSync(path.join(store.dirOf(meta.id), MARKER_FILE))).toBe(false);
    const saved = await store.readMeta(meta.id);
    expect(saved?.state).toBe('complete');
    expect(listFilesRecursive(dir).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
  });

  it('writes the ring once per write tick and syncs it in the same tick, not a write per chunk', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const clock = new AudioClock();
    let dataWrites = 0;
    const counting: FileSystemLayer = {
      ...nodeFileSystem,
      write: (fd, buf, off, len, position) => {
        if (position !== null && position >= WAV_HEADER_BYTES) dataWrites++;
        return nodeFileSystem.write(fd, buf, off, len, position);
      },
    };
    const session = await RecordingSession.start({ store, capture, clock, fs: counting });
    // 0.8 s in 40 chunks, before the first tick: taken in, nothing written yet.
    for (let i = 0; i < 40; i++) {
      capture.pump(1);
      clock.advance(20);
    }
    await tick(20);
    expect(session.recordedFrames).toBe(40 * CHUNK_FRAMES);
    expect(session.stats.writtenFrames).toBe(0);
    expect(dataWrites).toBe(0);
    // The tick at 1 s: one write of the whole second, then its sync.
    for (let i = 0; i < 10; i++) {
      capture.pump(1);
      clock.advance(20);
    }
    expect(clock.ticksOf(WRITE_TIMER)).toBe(1);
    while (session.stats.durableFrames < 50 * CHUNK_FRAMES) await tick(5);
    expect(dataWrites).toBe(1);
    expect(readWav(session.audioPath).header.dataBytes).toBe(50 * CHUNK_FRAMES * 2);
    expect(session.fileBytes).toBe(fs.statSync(session.audioPath).size);
    await session.stop();
    session.dispose();
  });

  it('downmixes a stereo device to mono', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture(2);
    const session = await RecordingSession.start({ store, capture });
    capture.pump(10);
    const meta = await session.stop();
    session.dispose();
    const wav = readWav(store.audioPath(meta.id));
    expect(wav.header.format.channels).toBe(1);
    expect(wav.header.dataBytes).toBe(10 * CHUNK_FRAMES * 2);
  });

  it('drops audio while paused and keeps the header true while paused', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const session = await RecordingSession.start({ store, capture });
    capture.pump(10);
    await session.pause();
    // While paused the header already claims the 10 chunks: a crash now loses nothing.
    expect(readWav(session.audioPath).header.dataBytes).toBe(10 * CHUNK_FRAMES * 2);
    expect((await store.readMeta(session.id))?.state).toBe('paused');
    capture.pump(25);
    await session.resume();
    capture.pump(5);
    const meta = await session.stop();
    session.dispose();
    expect(meta.durationS).toBeCloseTo((15 * CHUNK_FRAMES) / RATE, 6);
    expect(session.stats.capturedFrames).toBe(40 * CHUNK_FRAMES);
  });

  it('refuses pause when not recording, with a clear error', async () => {
    const store = new RecordingsStore(dir);
    const session = await RecordingSession.start({ store, capture: manualCapture() });
    await session.pause();
    await expect(session.pause()).rejects.toMatchObject({ code: 'INVALID_STATE' });
    await session.stop();
    session.dispose();
  });

  it('survives 20 start/stop cycles with one folder each and nothing left open', async () => {
    const store = new RecordingsStore(dir);
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) {
      const capture = manualCapture();
      const session = await RecordingSession.start({ store, capture });
      capture.pump(5);
      const meta = await session.stop();
      session.dispose();
      expect(meta.state).toBe('complete');
    }
    expect((await store.list()).length).toBe(20);
    expect(fs.readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fdsBefore);
  });

  it('finalizes with DEVICE_LOST when no audio arrives for the watchdog period', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const session = await RecordingSession.start({ store, capture, watchdogMs: 300 });
    capture.pump(10);
    const failed = new Promise<StenoError>((resolve) => {
      const sub = session.onDidFail((e) => {
        sub.dispose();
        resolve(e);
      });
    });
    const error = await failed; // the device goes silent: nothing more is pumped
    expect(error.code).toBe('DEVICE_LOST');
    expect(error.message).toMatch(/unplugged/);
    const meta = await session.stop();
    session.dispose();
    expect(meta.state).toBe('failed');
    expect(meta.error?.code).toBe('DEVICE_LOST');
    expect(readWav(store.audioPath(meta.id)).header.dataBytes).toBe(10 * CHUNK_FRAMES * 2);
    // A new recording can start right away.
    const capture2 = manualCapture();
    const next = await RecordingSession.start({ store, capture: capture2 });
    capture2.pump(1);
    expect((await next.stop()).state).toBe('complete');
    next.dispose();
  });

  it('a capture fault ends the recording cleanly and keeps the audio', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const session = await RecordingSession.start({ store, capture });
    capture.pump(7);
    capture.fail(new StenoError('DEVICE_LOST', 'The device reported an error.', 'Reconnect it.'));
    const meta = await session.stop();
    session.dispose();
    expect(meta.state).toBe('failed');
    expect(readWav(store.audioPath(meta.id)).header.dataBytes).toBe(7 * CHUNK_FRAMES * 2);
  });

  it('disk full: stops with DISK_FULL and everything written before stays a valid WAV', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const limit = 50 * CHUNK_FRAMES * 2 + 123; // fails mid-chunk, as a real disk does
    const fsl = withFaults(nodeFileSystem, { op: 'write', code: 'ENOSPC', afterBytes: limit });
    const session = await RecordingSession.start({ store, capture, fs: fsl });
    const failed = new Promise<StenoError>((resolve) => session.onDidFail(resolve));
    for (let i = 0; i < 100; i++) {
      capture.pump(1);
      await tick();
    }
    const error = await failed;
    expect(error.code).toBe('DISK_FULL');
    expect(error.action).toMatch(/Free some space/);
    const meta = await session.stop();
    session.dispose();
    expect(meta.state).toBe('failed');
    const wav = readWav(store.audioPath(meta.id));
    // The header claims only whole frames that reached the disk.
    expect(wav.header.dataBytes % 2).toBe(0);
    expect(wav.header.dataBytes).toBeGreaterThanOrEqual(limit - WAV_HEADER_BYTES - 2);
    expect(WAV_HEADER_BYTES + wav.header.dataBytes).toBeLessThanOrEqual(wav.size);
  });

  it('unwritable directory: start fails with DIR_UNWRITABLE and leaves nothing behind', async () => {
    const store = new RecordingsStore(dir);
    const fsl = withFaults(nodeFileSystem, { op: 'open', code: 'EACCES' });
    const capture = manualCapture();
    await expect(RecordingSession.start({ store, capture, fs: fsl })).rejects.toMatchObject({
      code: 'DIR_UNWRITABLE',
    });
    expect(listFilesRecursive(dir)).toEqual([]);
  });

  it('a recordings path that is a file fails with a clear error', async () => {
    const file = path.join(dir, 'not-a-dir');
    fs.writeFileSync(file, 'x');
    const store = new RecordingsStore(path.join(file, 'recordings'));
    await expect(RecordingSession.start({ store, capture: manualCapture() })).rejects.toMatchObject(
      {
        code: 'DIR_VANISHED',
      },
    );
  });

  it('vanished folder: stops with DIR_VANISHED and saves the audio again from the open file', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const delivered: Buffer[] = [];
    const tap = capture.onDidData((chunk) => delivered.push(Buffer.from(chunk)));
    const session = await RecordingSession.start({ store, capture });
    const error = await removeFolderWhileRecording(session, capture);
    expect(error.code).toBe('DIR_VANISHED');
    expect(error.message).toContain(`were saved again to ${session.audioPath}`);
    const meta = await session.stop();
    tap.dispose();
    session.dispose();
    // Every frame captured before the stop is in the rescued file, byte for byte.
    const wav = readWav(session.audioPath);
    const expected = Buffer.concat(delivered);
    expect(expected.byteLength).toBeGreaterThan(50 * CHUNK_FRAMES * 2);
    expect(wav.header.dataBytes).toBe(expected.byteLength);
    expect(wav.buf.subarray(WAV_HEADER_BYTES).equals(expected)).toBe(true);
    expect(meta.state).toBe('failed');
    expect(meta.durationS).toBeCloseTo(expected.byteLength / 2 / RATE, 6);
    const saved = await store.readMeta(session.id);
    expect(saved).toMatchObject({ state: 'failed', error: { code: 'DIR_VANISHED' } });
    expect(listFilesRecursive(dir).filter((f) => f.endsWith(TEMP_SUFFIX))).toEqual([]);
    expect(fs.existsSync(path.join(session.folder, MARKER_FILE))).toBe(false);
  });

  it('a stop right after the folder was deleted (before the check saw it) still saves the audio', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const session = await RecordingSession.start({ store, capture });
    capture.pump(50);
    while (session.stats.writtenFrames < 50 * CHUNK_FRAMES) await tick(5);
    fs.rmSync(session.folder, { recursive: true, force: true });
    const meta = await session.stop();
    session.dispose();
    expect(meta.state).toBe('failed');
    expect(session.error?.code).toBe('DIR_VANISHED');
    expect(session.error?.message).toContain('were saved again');
    expect(readWav(session.audioPath).header.dataBytes).toBe(50 * CHUNK_FRAMES * 2);
    expect((await store.readMeta(session.id))?.state).toBe('failed');
  });

  it('vanished folder whose audio cannot be saved again: the error says so, nothing half-written remains', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    // Opening any file after the first 100 000 bytes fails, as on a drive gone read-only.
    const fsl = withFaults(nodeFileSystem, { op: 'open', code: 'EROFS', afterBytes: 100_000 });
    const session = await RecordingSession.start({ store, capture, fs: fsl });
    const error = await removeFolderWhileRecording(session, capture);
    expect(error.code).toBe('DIR_VANISHED');
    expect(error.message).toMatch(/could not be saved again: Steno may not write to .*audio\.wav/);
    await session.stop();
    session.dispose();
    // Nothing that claims a recording it does not hold: the remade folder is gone again.
    expect(listFilesRecursive(dir)).toEqual([]);
  });

  it('only the audio file deleted, and it cannot be saved again: the folder and its details stay', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const fsl = withFaults(nodeFileSystem, { op: 'open', code: 'EROFS', afterBytes: 50_000 });
    const session = await RecordingSession.start({ store, capture, fs: fsl });
    capture.pump(50);
    while (session.stats.writtenFrames < 50 * CHUNK_FRAMES) await tick(5);
    fs.rmSync(session.audioPath);
    const meta = await session.stop();
    session.dispose();
    expect(meta.state).toBe('failed');
    expect(session.error?.message).toMatch(/could not be saved again/);
    expect((await store.readMeta(session.id))?.error?.code).toBe('DIR_VANISHED');
  });

  it('recovery rebuilds a recording whose process died, and sweeps temp files', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    // A ring of 1.5 s: the 1 s pumped fills it past half, which is written at
    // once, without waiting for the write tick and its sync.
    const session = await RecordingSession.start({
      store,
      capture,
      syncIntervalMs: 2000,
      ringSeconds: 1.5,
    });
    capture.pump(50);
    // Wait for the writes to reach the file, but not for a sync: the header is stale.
    while (session.stats.writtenFrames < 50 * CHUNK_FRAMES) await tick(5);
    expect(readWav(session.audioPath).header.dataBytes).toBe(0);
    // Pretend the process died: a dead pid in the marker, and a leftover temp file.
    fs.writeFileSync(path.join(session.folder, MARKER_FILE), '999999999\n');
    fs.writeFileSync(path.join(session.folder, `.meta.json.1.1${TEMP_SUFFIX}`), 'partial');
    const report = await recoverRecordings(store);
    expect(report.recovered.map((m) => m.id)).toEqual([session.id]);
    expect(report.recovered[0]!.state).toBe('recovered');
    expect(report.recovered[0]!.durationS).toBeCloseTo((50 * CHUNK_FRAMES) / RATE, 6);
    expect(report.tempFilesRemoved.length).toBe(1);
    expect(readWav(session.audioPath).header.dataBytes).toBe(50 * CHUNK_FRAMES * 2);
    // Clean up the live session without letting it rewrite the recovered state.
    session.dispose();
  });

  it('recovery leaves a recording alone while its process is alive', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const session = await RecordingSession.start({ store, capture });
    fs.writeFileSync(path.join(session.folder, MARKER_FILE), `${process.ppid}\n`);
    const report = await recoverRecordings(store);
    expect(report.recovered).toEqual([]);
    await session.stop();
    session.dispose();
  });

  it('start/pump/stop does not leak (1x/10x/100x)', async () => {
    const store = new RecordingsStore(dir);
    const report = await measureLeak(async () => {
      const capture = manualCapture();
      const session = await RecordingSession.start({ store, capture });
      capture.pump(3);
      await session.pause();
      await session.resume();
      await session.stop();
      session.dispose();
      fs.rmSync(session.folder, { recursive: true, force: true });
    });
    assertNoLeak(report);
  });

  it('recovery does not leak (1x/10x/100x)', async () => {
    const store = new RecordingsStore(dir);
    const capture = manualCapture();
    const session = await RecordingSession.start({ store, capture });
    capture.pump(3);
    await session.stop();
    session.dispose();
    const report = await measureLeak(async () => {
      fs.writeFileSync(path.join(session.folder, MARKER_FILE), '999999999\n');
      await recoverRecordings(store);
    });
    assertNoLeak(report);
  });
});
