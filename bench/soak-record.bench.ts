/**
 * soak-record: hours of 48 kHz mono audio from a generator pushed at full
 * speed through the real recording pipeline (capture events -> ring buffer ->
 * append-only WAV writer -> a real file; past 4 GiB the file turns RF64).
 * Memory must not grow with the length of the recording, and the file must
 * hold every sample the generator made, in order.
 *
 *   npm run bench -- soak-record            12.5 hours of audio (4.3 GB, RF64)
 *   npm run bench -- soak-record --quick    1 hour
 *
 * Why 12.5 h and not 12: 12 h of 48 kHz mono 16-bit is 4.15 GB, just under the
 * 4 GiB where RIFF's 32-bit sizes end; 12.5 h (4.32 GB) includes the RF64 switch.
 *
 * The session and its writer run on a clock that advances with the audio
 * delivered (AudioClock), so their timers fire as often per second of audio
 * as in a live recording: the ring's write with its sync, the writer's own
 * sync timer and the watchdog once per second of audio, the folder check
 * every five seconds. Each tick's write and sync are awaited before the next
 * second of audio is delivered: live, they take a few milliseconds of the
 * second they have; at full speed they would otherwise take the time of many
 * seconds of audio, and the ring would fill meanwhile. The counts of each
 * are reported.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import v8 from 'node:v8';
import { Emitter } from '../src/core/event';
import { Disposable } from '../src/core/lifecycle';
import type { StenoError } from '../src/core/errors';
import { parseWavHeader, WAV_HEADER_BYTES } from '../src/core/wav-format';
import type { CaptureFormat, CaptureSource } from '../src/main/capture/capture-source';
import { nodeFileSystem, type FileSystemLayer } from '../src/main/fs-layer';
import { RecordingsStore } from '../src/main/recording/recordings-store';
import {
  FOLDER_CHECK_MS,
  FOLDER_CHECK_TIMER,
  RecordingSession,
  WATCHDOG_TICK_MS,
  WATCHDOG_TIMER,
  WRITE_TIMER,
} from '../src/main/recording/session';
import { AudioClock } from '../src/testing/audio-clock';
import { SYNC_TIMER } from '../src/main/recording/wav-writer';
import { gc, mb, round, slopePerX } from './support';

const RATE = 48_000;
// 20 ms: ten times as many chunks as the microphone adapter delivers (200 ms
// reads), so the per-chunk path is exercised harder than in real use.
const CHUNK_FRAMES = 960;
const CHUNK_MS = 20;
const CHUNKS_PER_SECOND = 1000 / CHUNK_MS;
/** Memory is read (after a forced GC) every this many seconds of audio. */
const SAMPLE_EVERY_S = 600;
/** The file is read back in blocks of this many frames (3.9 MB), one buffer reused. */
const VERIFY_BLOCK_FRAMES = CHUNK_FRAMES * 2048;

/**
 * The audio: xorshift32 noise, one sample per frame. Its period is 2^32 - 1
 * frames (24.8 h at 48 kHz), so nothing repeats within a run and a lost,
 * doubled or reordered stretch anywhere in the file changes the samples
 * there. A tone from a one-second table would hide a lost or doubled second.
 */
export class NoiseGenerator {
  private state = 0x2545f491;

  fill(out: Int16Array): void {
    let x = this.state;
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x >> 16;
    }
    this.state = x;
  }
}

/** A capture source that delivers the generator's audio in 20 ms chunks on `pump`. */
class NoiseCapture extends Disposable implements CaptureSource {
  readonly format: CaptureFormat = { sampleRate: RATE, channels: 1 };
  readonly deviceName = 'noise';
  private readonly dataEmitter = this._register(new Emitter<Buffer>(4));
  private readonly errorEmitter = this._register(new Emitter<StenoError>(4));
  readonly onDidData = this.dataEmitter.event;
  readonly onDidError = this.errorEmitter.event;
  /** Reused for every chunk, as a driver's buffer is; the session copies it. */
  private readonly chunk = Buffer.alloc(CHUNK_FRAMES * 2);
  private readonly samples = new Int16Array(this.chunk.buffer, this.chunk.byteOffset, CHUNK_FRAMES);
  private readonly noise = new NoiseGenerator();
  private running = false;

  start(): void {
    this.running = true;
  }

  pump(chunks: number): void {
    for (let k = 0; k < chunks && this.running; k++) {
      this.noise.fill(this.samples);
      this.dataEmitter.fire(this.chunk);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
  }
}

/** The real file system, with the last fdatasync's promise kept so a wait can sleep on it. */
function watchedFileSystem(): {
  fs: FileSystemLayer;
  fdatasyncs: () => number;
  lastFdatasync: () => Promise<void>;
} {
  let count = 0;
  let last: Promise<void> = Promise.resolve();
  return {
    fs: {
      ...nodeFileSystem,
      fdatasync: (fd) => {
        count++;
        last = nodeFileSystem.fdatasync(fd);
        return last;
      },
    },
    fdatasyncs: () => count,
    lastFdatasync: () => last,
  };
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Resident memory of V8's young generation (new space and new large objects),
 * bytes. V8 doubles its semi-spaces (1 -> 16 MB each, its cap) as enough
 * allocations survive scavenges; at the soak's 260 times real time that
 * happens within hours of audio, and RSS steps with it while the heap in use
 * stays flat. The young generation's size is bounded by V8's cap, not by the
 * recording's length, so it is reported, and subtracted from RSS for the bound.
 */
function youngGenerationBytes(): number {
  return v8
    .getHeapSpaceStatistics()
    .filter(
      (space) => space.space_name === 'new_space' || space.space_name === 'new_large_object_space',
    )
    .reduce((sum, space) => sum + space.physical_space_size, 0);
}

/** Compares every sample of the file's data with a fresh run of the generator, streaming both. */
export async function verifyAgainstGenerator(file: string): Promise<{
  dataFrames: number;
  mismatched: number;
  firstMismatch: number | null;
}> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(WAV_HEADER_BYTES);
    await fh.read(head, 0, WAV_HEADER_BYTES, 0);
    const { dataOffset, dataBytes } = parseWavHeader(head);
    const dataFrames = dataBytes / 2;
    const actual = Buffer.alloc(VERIFY_BLOCK_FRAMES * 2);
    const actualSamples = new Int16Array(actual.buffer, actual.byteOffset, VERIFY_BLOCK_FRAMES);
    const expected = new Int16Array(VERIFY_BLOCK_FRAMES);
    const expectedBytes = Buffer.from(expected.buffer);
    const generator = new NoiseGenerator();
    let mismatched = 0;
    let firstMismatch: number | null = null;
    for (let at = 0; at < dataFrames;) {
      const frames = Math.min(VERIFY_BLOCK_FRAMES, dataFrames - at);
      const bytes = frames * 2;
      for (let got = 0; got < bytes;) {
        const { bytesRead } = await fh.read(actual, got, bytes - got, dataOffset + at * 2 + got);
        if (bytesRead === 0) throw new Error(`${file} ends inside its data chunk (frame ${at})`);
        got += bytesRead;
      }
      generator.fill(expected.subarray(0, frames));
      if (actual.compare(expectedBytes, 0, bytes, 0, bytes) !== 0) {
        for (let i = 0; i < frames; i++) {
          if (actualSamples[i] === expected[i]) continue;
          mismatched++;
          firstMismatch ??= at + i;
        }
      }
      at += frames;
    }
    return { dataFrames, mismatched, firstMismatch };
  } finally {
    await fh.close();
  }
}

export default async function soakRecord(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const hours = quick ? 1 : 12.5;
  const audioS = hours * 3600;
  const totalChunks = audioS * CHUNKS_PER_SECOND;
  const totalFrames = totalChunks * CHUNK_FRAMES;
  const sampleEveryChunks = SAMPLE_EVERY_S * CHUNKS_PER_SECOND;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-soak-'));
  const started = performance.now();
  try {
    gc();
    const rssStart = process.memoryUsage().rss;
    const store = new RecordingsStore(dir);
    const capture = new NoiseCapture();
    const clock = new AudioClock();
    const watched = watchedFileSystem();
    const session = await RecordingSession.start({ store, capture, clock, fs: watched.fs });
    const chunkBytes = CHUNK_FRAMES * 2;
    // Capacity: one entry per SAMPLE_EVERY_S of audio (75 for 12.5 h).
    // heap_total (V8's committed heap), external and array buffers are reported
    // so that RSS growth can be told apart: V8 keeping more heap committed,
    // buffers, or native memory outside both.
    const samples = {
      audio_min: [] as number[],
      rss_mb: [] as number[],
      heap_mb: [] as number[],
      heap_total_mb: [] as number[],
      young_generation_mb: [] as number[],
      rss_less_young_mb: [] as number[],
      external_mb: [] as number[],
      array_buffers_mb: [] as number[],
    };
    let sent = 0;
    let syncsRun = 0;
    let syncTicksNothingNew = 0;
    let lastReport = performance.now();
    while (sent < totalChunks) {
      // At most up to the next whole second of audio, where the sync timer
      // fires, so that each tick's sync runs alone as it does live; fewer when
      // the ring is fuller (the producer waits for room, so it cannot overrun).
      const toNextSecond = CHUNKS_PER_SECOND - (sent % CHUNKS_PER_SECOND);
      const room = Math.floor(session.ringFreeBytes / chunkBytes);
      const n = Math.min(room, toNextSecond, totalChunks - sent);
      const writeTicksBefore = clock.ticksOf(WRITE_TIMER);
      for (let k = 0; k < n; k++) {
        capture.pump(1);
        clock.advance(CHUNK_MS);
      }
      sent += n;
      if (clock.ticksOf(WRITE_TIMER) > writeTicksBefore) {
        // The tick writes the ring to the file and syncs it, if anything is new.
        const target = session.recordedFrames;
        if (target > session.stats.durableFrames) {
          while (session.stats.durableFrames < target) {
            if (session.currentState !== 'recording') {
              throw new Error(`the recording ended: ${session.error?.message ?? 'no error'}`);
            }
            await watched.lastFdatasync();
            await nextTurn();
          }
          syncsRun++;
        } else {
          syncTicksNothingNew++;
        }
      }
      await nextTurn();
      if (n > 0 && sent % sampleEveryChunks === 0) {
        gc();
        const m = process.memoryUsage();
        samples.audio_min.push(sent / CHUNKS_PER_SECOND / 60);
        samples.rss_mb.push(mb(m.rss));
        samples.heap_mb.push(mb(m.heapUsed));
        samples.heap_total_mb.push(mb(m.heapTotal));
        const young = youngGenerationBytes();
        samples.young_generation_mb.push(mb(young));
        samples.rss_less_young_mb.push(mb(m.rss - young));
        samples.external_mb.push(mb(m.external));
        samples.array_buffers_mb.push(mb(m.arrayBuffers));
      }
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        process.stderr.write(
          `soak-record: ${((sent / totalChunks) * 100).toFixed(1)}% (${(sent / CHUNKS_PER_SECOND / 3600).toFixed(2)} h of audio), ` +
            `${syncsRun} syncs, rss ${mb(process.memoryUsage().rss)} MB\n`,
        );
      }
    }
    // The end sample is the last periodic one (the run is a whole number of
    // SAMPLE_EVERY_S): taken before stop, so stop's own cost is apart.
    const rssEnd = samples.rss_mb.at(-1)!;
    const heapEnd = samples.heap_mb.at(-1)!;
    const stopStarted = performance.now();
    const meta = await session.stop();
    const stopS = (performance.now() - stopStarted) / 1000;
    const stats = session.stats;
    session.dispose();
    gc();
    const afterStop = process.memoryUsage();
    const file = store.audioPath(meta.id);
    const bytesOnDisk = fs.statSync(file).size;
    const header = Buffer.alloc(WAV_HEADER_BYTES);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, header, 0, WAV_HEADER_BYTES, 0);
    fs.closeSync(fd);
    const parsed = parseWavHeader(header);
    const soxSamples = Number(execFileSync('soxi', ['-s', file], { encoding: 'utf8' }).trim());
    process.stderr.write('soak-record: comparing every sample of the file with the generator\n');
    const verifyStarted = performance.now();
    const verified = await verifyAgainstGenerator(file);
    const verifyS = (performance.now() - verifyStarted) / 1000;
    const bytesExpected = totalFrames * 2;
    // From the 10-minute sample on: the first ten minutes of audio are the warm-up.
    const audioHours = samples.audio_min.map((m) => m / 60);
    const result = {
      hours,
      rss_mb_start: mb(rssStart),
      rss_mb_10min: samples.rss_mb[0]!,
      rss_mb_end: rssEnd,
      young_generation_mb_10min: samples.young_generation_mb[0]!,
      young_generation_mb_end: samples.young_generation_mb.at(-1)!,
      rss_less_young_mb_10min: samples.rss_less_young_mb[0]!,
      rss_less_young_mb_end: samples.rss_less_young_mb.at(-1)!,
      heap_mb_10min: samples.heap_mb[0]!,
      heap_mb_end: heapEnd,
      rss_mb_after_stop: mb(afterStop.rss),
      heap_mb_after_stop: mb(afterStop.heapUsed),
      stop_rss_delta_mb: round(mb(afterStop.rss) - rssEnd, 1),
      stop_heap_delta_mb: round(mb(afterStop.heapUsed) - heapEnd, 1),
      stop_s: round(stopS, 2),
      rss_slope_mb_per_audio_h: round(slopePerX(audioHours, samples.rss_mb), 2),
      heap_slope_mb_per_audio_h: round(slopePerX(audioHours, samples.heap_mb), 3),
      samples,
      frames_dropped: stats.droppedFrames,
      bytes_written: stats.writtenFrames * 2,
      bytes_expected: bytesExpected,
      bytes_on_disk: bytesOnDisk,
      header_data_bytes: parsed.dataBytes,
      sox_samples: soxSamples,
      samples_compared: verified.dataFrames,
      samples_mismatched: verified.mismatched,
      first_mismatched_sample: verified.firstMismatch,
      rf64: parsed.isRf64,
      write_ticks: clock.ticksOf(WRITE_TIMER),
      sync_timer_ticks: clock.ticksOf(SYNC_TIMER),
      syncs_run: syncsRun,
      sync_ticks_nothing_new: syncTicksNothingNew,
      fdatasyncs: watched.fdatasyncs(),
      watchdog_ticks: clock.ticksOf(WATCHDOG_TIMER),
      folder_check_ticks: clock.ticksOf(FOLDER_CHECK_TIMER),
      ring_capacity_bytes: stats.ringCapacityBytes,
      ring_high_water_bytes: stats.ringHighWaterBytes,
      verify_s: round(verifyS, 1),
      wall_s: round((performance.now() - started) / 1000, 1),
    };
    const pass =
      result.rss_less_young_mb_end - result.rss_less_young_mb_10min <= 8 &&
      result.heap_mb_end - result.heap_mb_10min <= 2 &&
      result.frames_dropped === 0 &&
      result.bytes_written === bytesExpected &&
      soxSamples === totalFrames &&
      verified.dataFrames === totalFrames &&
      verified.mismatched === 0 &&
      bytesOnDisk === parsed.dataOffset + bytesExpected &&
      // The timers ran on the audio's time: once per period of audio each.
      result.write_ticks === audioS &&
      result.sync_timer_ticks === audioS &&
      result.watchdog_ticks === (audioS * 1000) / WATCHDOG_TICK_MS &&
      result.folder_check_ticks === Math.floor((audioS * 1000) / FOLDER_CHECK_MS) &&
      // The full run must cross 4 GiB and so be RF64; the quick one must not.
      parsed.isRf64 === bytesOnDisk > 2 ** 32 &&
      (quick || parsed.isRf64);
    return { ...result, pass };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
