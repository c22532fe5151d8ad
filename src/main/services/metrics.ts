/**
 * The resources in use, sampled about once a second as one `metrics` event:
 * the gauges a person watches and the figures the benchmarks check. A value
 * that cannot be known now is null, never a made-up 0. Sampling is cheap by
 * design (a few syscalls and one ping of the host); its cost is measured by
 * the api-events benchmark.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Emitter } from '../../core/event';
import { Disposable } from '../../core/lifecycle';
import { sharedClock } from './aligned-clock';
import type { Metrics } from '../../core/api/types';
import type { RecorderService } from './recorder';

export const METRICS_INTERVAL_MS = 1000;
export const METRICS_TIMER = 'metrics';
/** A host that does not answer its ping within this is shown as unknown. */
export const HOST_PING_TIMEOUT_MS = 1000;
/** Bytes per second assumed for "time left" when nothing is recording: 48 kHz mono 16-bit. */
const DEFAULT_BYTES_PER_SECOND = 96_000;
/**
 * Free disk space is read this often, not at every sample: each read is a
 * round trip through libuv's thread pool, which costs the recording process
 * more CPU than the whole sample otherwise (bench/README.md, record-cpu). In
 * between, the last reading less what the recording wrote since stands in.
 */
export const DISK_FREE_EVERY_MS = 10_000;

export class MetricsService extends Disposable {
  private readonly metricsEmitter = this._register(new Emitter<Metrics>());
  readonly onDidSample = this.metricsEmitter.event;
  private last: Metrics | null = null;
  private sampling = false;
  /** The last free-space reading, with when it was taken and the recording's file size then. */
  private disk: { at: number; freeBytes: number | null; fileBytes: number } | null = null;

  constructor(
    private readonly recorder: RecorderService,
    private readonly recordingsDir: string,
    intervalMs = METRICS_INTERVAL_MS,
  ) {
    super();
    // On the clock the recordings' timers use: the sample shares their wake-ups.
    this._register(sharedClock.every(METRICS_TIMER, intervalMs, () => void this.tick()));
  }

  get latest(): Metrics | null {
    return this.last;
  }

  /** One sample now (also what the timer does). */
  async sample(): Promise<Metrics> {
    const current = this.recorder.current;
    const session = current?.session ?? null;
    const transcriber = current?.transcriber ?? null;
    const stats = session?.stats ?? null;
    const recordingFileBytes = session?.fileBytes ?? null;
    const [hostRssBytes, diskFreeBytes] = await Promise.all([
      this.hostRss(),
      this.diskFreeNow(recordingFileBytes ?? 0),
    ]);
    const memory = process.memoryUsage();
    const bytesPerSecond = stats ? stats.sampleRate * 2 : DEFAULT_BYTES_PER_SECOND;
    const metrics: Metrics = {
      at: Date.now(),
      mainRssBytes: memory.rss,
      hostRssBytes,
      hostState: this.recorder.hostState,
      heapUsedBytes: memory.heapUsed,
      modelsLoaded: transcriber?.hostPid !== undefined && transcriber !== null,
      ringUsedBytes: stats?.ringUsedBytes ?? null,
      ringHighWaterBytes: stats?.ringHighWaterBytes ?? null,
      ringCapacityBytes: stats?.ringCapacityBytes ?? null,
      framesDropped: stats?.droppedFrames ?? null,
      transcriptionLagS: transcriber ? Math.max(0, transcriber.lagSeconds) : null,
      recordingFileBytes,
      diskFreeBytes,
      recordingSecondsLeft: diskFreeBytes === null ? null : diskFreeBytes / bytesPerSecond,
    };
    this.last = metrics;
    return metrics;
  }

  /** Free bytes now: read every DISK_FREE_EVERY_MS, less what the recording wrote since. */
  private async diskFreeNow(fileBytes: number): Promise<number | null> {
    const now = performance.now();
    const d = this.disk;
    // A new recording (its file smaller than at the reading) reads afresh too.
    if (d && now - d.at < DISK_FREE_EVERY_MS && fileBytes >= d.fileBytes) {
      return d.freeBytes === null ? null : Math.max(0, d.freeBytes - (fileBytes - d.fileBytes));
    }
    const freeBytes = await diskFree(this.recordingsDir);
    this.disk = { at: performance.now(), freeBytes, fileBytes };
    return freeBytes;
  }

  /**
   * 0 when no host process exists (none started, parked, stopped): that is
   * known. Null only when one runs and does not answer its ping in time.
   */
  private async hostRss(): Promise<number | null> {
    const transcriber = this.recorder.current?.transcriber ?? null;
    const state = this.recorder.hostState;
    if (!transcriber || state === 'parked' || state === 'stopped' || state === 'failed') return 0;
    return transcriber.hostRssBytes(HOST_PING_TIMEOUT_MS);
  }

  private async tick(): Promise<void> {
    // A slow disk or host never stacks samples up: one at a time.
    if (this.sampling) return;
    this.sampling = true;
    try {
      const m = await this.sample();
      if (!this._store.isDisposed) this.metricsEmitter.fire(m);
    } finally {
      this.sampling = false;
    }
  }
}

/** Free bytes for an unprivileged user on the volume of `dir` (or its nearest existing parent). */
export async function diskFree(dir: string): Promise<number | null> {
  let current = dir;
  for (let i = 0; i < 64; i++) {
    try {
      const s = await fs.promises.statfs(current);
      return s.bavail * s.bsize;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return null;
      const parent = path.dirname(current);
      if (parent === current) return null;
      current = parent;
    }
  }
  return null;
}

/** Resident memory of a process, from /proc on Linux; null elsewhere or when it is gone. */
export async function processRssBytes(pid: number): Promise<number | null> {
  if (process.platform !== 'linux') return null;
  try {
    const status = await fs.promises.readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}
