/**
 * soak-record: hours of 48 kHz mono audio from a synthetic source pushed at
 * full speed through the real recording pipeline (capture events -> ring
 * buffer -> append-only WAV writer -> a real file; past 4 GiB the file turns
 * RF64). Memory must not grow with the length of the recording.
 *
 *   npm run bench -- soak-record            12.5 hours of audio (4.3 GB, RF64)
 *   npm run bench -- soak-record --quick    1 hour
 *
 * Why 12.5 h and not 12: 12 h of 48 kHz mono 16-bit is 4.15 GB, just under the
 * 4 GiB where RIFF's 32-bit sizes end; 12.5 h (4.32 GB) includes the RF64 switch.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { SyntheticCapture } from '../src/main/capture/synthetic-capture';
import { RecordingsStore } from '../src/main/recording/recordings-store';
import { RecordingSession } from '../src/main/recording/session';
import { parseWavHeader, WAV_HEADER_BYTES } from '../src/core/wav-format';

const RATE = 48_000;
// 20 ms: ten times as many chunks as the microphone adapter delivers (200 ms
// reads), so the per-chunk path is exercised harder than in real use.
const CHUNK_FRAMES = 960;

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with --expose-gc (npm run bench does)');
  g();
  g();
}

function mb(bytes: number): number {
  return Math.round((bytes / 1024 / 1024) * 10) / 10;
}

export default async function soakRecord(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const hours = quick ? 1 : 12.5;
  const totalFrames = hours * 3600 * RATE;
  const totalChunks = totalFrames / CHUNK_FRAMES;
  const tenMinChunks = (600 * RATE) / CHUNK_FRAMES;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-soak-'));
  const started = performance.now();
  try {
    gc();
    const rssStart = process.memoryUsage().rss;
    const store = new RecordingsStore(dir);
    const capture = new SyntheticCapture({
      format: { sampleRate: RATE, channels: 1 },
      framesPerChunk: CHUNK_FRAMES,
      pacing: 'manual',
    });
    const session = await RecordingSession.start({ store, capture });
    const chunkBytes = CHUNK_FRAMES * 2;
    let sent = 0;
    let rss10 = 0;
    let heap10 = 0;
    let lastReport = performance.now();
    while (sent < totalChunks) {
      // Push as fast as the pipeline takes it: fill the ring, then yield to the
      // writer. The ring never overruns because we wait for its free space.
      const room = Math.floor(session.ringFreeBytes / chunkBytes);
      const n = Math.min(room, totalChunks - sent);
      if (n > 0) {
        capture.pump(n);
        sent += n;
      }
      await new Promise((r) => setImmediate(r));
      if (rss10 === 0 && sent >= tenMinChunks) {
        gc();
        rss10 = process.memoryUsage().rss;
        heap10 = process.memoryUsage().heapUsed;
      }
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        const done = sent / totalChunks;
        process.stderr.write(
          `soak-record: ${(done * 100).toFixed(1)}% (${((sent * CHUNK_FRAMES) / RATE / 3600).toFixed(2)} h of audio), rss ${mb(process.memoryUsage().rss)} MB\n`,
        );
      }
    }
    const meta = await session.stop();
    const stats = session.stats;
    session.dispose();
    gc();
    const rssEnd = process.memoryUsage().rss;
    const heapEnd = process.memoryUsage().heapUsed;
    const file = store.audioPath(meta.id);
    const bytesOnDisk = fs.statSync(file).size;
    const header = Buffer.alloc(WAV_HEADER_BYTES);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, header, 0, WAV_HEADER_BYTES, 0);
    fs.closeSync(fd);
    const isRf64 = parseWavHeader(header).isRf64;
    const soxSamples = Number(execFileSync('soxi', ['-s', file], { encoding: 'utf8' }).trim());
    const bytesExpected = totalFrames * 2;
    const result = {
      hours,
      rss_mb_start: mb(rssStart),
      rss_mb_10min: mb(rss10),
      rss_mb_end: mb(rssEnd),
      heap_mb_10min: mb(heap10),
      heap_mb_end: mb(heapEnd),
      frames_dropped: stats.droppedFrames,
      bytes_written: stats.writtenFrames * 2,
      bytes_expected: bytesExpected,
      bytes_on_disk: bytesOnDisk,
      sox_samples: soxSamples,
      rf64: isRf64,
      ring_capacity_bytes: stats.ringCapacityBytes,
      ring_high_water_bytes: stats.ringHighWaterBytes,
      wall_s: Math.round((performance.now() - started) / 100) / 10,
    };
    const pass =
      result.rss_mb_end - result.rss_mb_10min <= 8 &&
      result.heap_mb_end - result.heap_mb_10min <= 2 &&
      result.frames_dropped === 0 &&
      result.bytes_written === bytesExpected &&
      soxSamples === totalFrames &&
      // The full run must cross 4 GiB and so be RF64; the quick one must not.
      isRf64 === bytesOnDisk > 2 ** 32 &&
      (quick || isRf64);
    return { ...result, pass };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
