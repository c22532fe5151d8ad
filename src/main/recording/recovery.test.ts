/**
 * The format recovery records: the one the WAV holds. Each recording here is
 * left as a crash leaves it (marker present, header stale, no final sync),
 * with or without its meta.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WAV_HEADER_BYTES, parseWavHeader, type PcmFormat } from '../../core/wav-format';
import { listFilesRecursive, makeTempDir, removeTempDir } from '../../testing/tmp';
import { toSummary } from '../services/library';
import { MARKER_FILE, RecordingsStore, type RecordingMeta } from './recordings-store';
import { recoverRecordings } from './recovery';
import { WavAppendWriter } from './wav-writer';

const MONO_16K: PcmFormat = { sampleRate: 16_000, channels: 1, bitsPerSample: 16 };
const STEREO_16K: PcmFormat = { sampleRate: 16_000, channels: 2, bitsPerSample: 16 };
const STARTED_AT = '2026-01-02T03:04:05.000Z';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('steno-recovery-');
});
afterEach(() => removeTempDir(dir));

function pcm(bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i + 1 < bytes; i += 2) b.writeInt16LE(((i * 37) % 50_000) - 25_000, i);
  return b;
}

interface Crashed {
  store: RecordingsStore;
  id: string;
  audio: Buffer;
}

/**
 * A recording in `format` that crashed holding `seconds` of audio, of which
 * only the first tenth was synced; meta.json as a session writes it, or none.
 */
async function crashedRecording(
  format: PcmFormat,
  seconds: number,
  withMeta: boolean,
): Promise<Crashed> {
  const store = new RecordingsStore(path.join(dir, 'recordings'));
  const id = RecordingsStore.newId();
  await store.create(id);
  const bytesPerS = format.sampleRate * format.channels * 2;
  const audio = pcm(seconds * bytesPerS);
  const writer = await WavAppendWriter.create(store.audioPath(id), format, {
    syncIntervalMs: 2000,
  });
  try {
    await writer.append(audio.subarray(0, bytesPerS / 10));
    await writer.sync();
    await writer.append(audio.subarray(bytesPerS / 10));
  } finally {
    writer.dispose(); // the crash: no final sync
  }
  if (withMeta) {
    await store.writeMeta({
      version: 1,
      id,
      startedAt: STARTED_AT,
      device: 'test-device',
      sampleRate: format.sampleRate,
      channels: format.channels,
      durationS: 0,
      state: 'recording',
    });
  }
  return { store, id, audio };
}

/** Recovers the one recording, checks its WAV, and returns its meta as stored. */
async function recoverOnly(rec: Crashed, format: PcmFormat): Promise<RecordingMeta> {
  const report = await recoverRecordings(rec.store);
  expect(report.failed).toEqual([]);
  expect(report.recovered.map((m) => m.id)).toEqual([rec.id]);
  const bytes = fs.readFileSync(rec.store.audioPath(rec.id));
  expect(parseWavHeader(bytes.subarray(0, WAV_HEADER_BYTES))).toEqual({
    format,
    dataOffset: WAV_HEADER_BYTES,
    dataBytes: rec.audio.length,
    isRf64: false,
  });
  expect(bytes.subarray(WAV_HEADER_BYTES).equals(rec.audio)).toBe(true);
  expect(listFilesRecursive(rec.store.dirOf(rec.id))).not.toContain(MARKER_FILE);
  const meta = (await rec.store.readMeta(rec.id))!;
  expect(report.recovered[0]).toEqual(meta);
  return meta;
}

describe('recovery records the format of the WAV', () => {
  it('meta.json missing, 16 kHz mono: meta and the API summary say 16 kHz mono', async () => {
    const rec = await crashedRecording(MONO_16K, 2, false);
    const meta = await recoverOnly(rec, MONO_16K);
    expect(meta).toMatchObject({ id: rec.id, state: 'recovered', sampleRate: 16_000, channels: 1 });
    expect(meta.durationS).toBeCloseTo(2, 9);
    expect(toSummary(meta)).toMatchObject({ sampleRate: 16_000, channels: 1 });
  });

  it('meta.json missing, 16 kHz stereo: the channels come from the WAV too', async () => {
    const rec = await crashedRecording(STEREO_16K, 1, false);
    const meta = await recoverOnly(rec, STEREO_16K);
    expect(meta).toMatchObject({ sampleRate: 16_000, channels: 2 });
    expect(meta.durationS).toBeCloseTo(1, 9);
  });

  it('meta.json present: kept as it was, apart from what recovery sets', async () => {
    const rec = await crashedRecording(MONO_16K, 2, true);
    const before = (await rec.store.readMeta(rec.id))!;
    expect(before).toMatchObject({
      startedAt: STARTED_AT,
      device: 'test-device',
      sampleRate: 16_000,
    });
    const meta = await recoverOnly(rec, MONO_16K);
    expect(meta).toEqual({
      ...before,
      state: 'recovered',
      durationS: expect.closeTo(2, 9),
      recoveredAt: expect.any(String),
      endedAt: meta.recoveredAt,
    });
  });

  it('meta.json present, header torn: the WAV is rebuilt in the format meta.json names', async () => {
    const rec = await crashedRecording(MONO_16K, 1, true);
    const file = rec.store.audioPath(rec.id);
    const fd = fs.openSync(file, 'r+');
    try {
      fs.writeSync(fd, Buffer.alloc(WAV_HEADER_BYTES, 0), 0, WAV_HEADER_BYTES, 0);
    } finally {
      fs.closeSync(fd);
    }
    const meta = await recoverOnly(rec, MONO_16K);
    expect(meta).toMatchObject({ state: 'recovered', sampleRate: 16_000, channels: 1 });
    expect(meta.durationS).toBeCloseTo(1, 9);
  });
});
