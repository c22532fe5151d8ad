/**
 * wav-append: the recording writer's append cost must not depend on the file size
 * (2 GB or past 4 GiB, where the file is RF64), its throughput must be close to
 * plain sequential writes synced as often, and it must beat the naive "reread
 * and rewrite the whole file" approach by a wide margin.
 *
 * `npm run bench -- wav-append [--quick]`
 *
 * Every bounded figure compares measurements, so each is measured interleaved
 * within the run: a round measures every side back to back and the order of the
 * sides changes from round to round, so all sides sample the same stretch of
 * the machine's load.
 *
 * (1) append_ratio, append_ratio_rf64: time of one awaited append of 0.2 s of
 *     48 kHz mono s16 (19200 bytes) to a 2 GB file / to a near-empty file, and
 *     to a file past 4 GiB (RF64) / to the near-empty file. Both big files are
 *     built through the writer. Measures append alone: the timer is set to its
 *     maximum and an explicit sync() runs after every 5 appends (1 s of audio,
 *     as in real use) outside the timed region, so the page cache holds what it
 *     would while recording. A round is one block of 50 appends to each of the
 *     three files, in an order that cycles through all six; a round's ratio is
 *     the median of the big file's block over the median of the near-empty
 *     file's. Bound for each: median over rounds <= 1.2. p50, p99 and max of
 *     every append are reported per file.
 * (2) throughput_ratio: runs of at least THROUGHPUT_RUN_MS each, by duration:
 *     the writer (create, awaited appends until the time is up, close) with its
 *     real sync timer, against a plain fs.write loop of the same chunks for the
 *     same time with an fdatasync every second from a timer (as the writer's)
 *     and one at the end. Each run's cost is its time per byte; the ratio is the
 *     plain runs' lower quartile / the writer runs' lower quartile (= writer
 *     bytes per second / plain bytes per second; noise only adds time to a run).
 *     Bound: >= 0.8. The syncs each run's timer fired are reported, and every
 *     run must have had at least one.
 * (3) naive_speedup: one naive append at a 10-minute file (read the file, decode it
 *     with wavefile, add 0.2 s of samples, encode, write the whole file) / the
 *     writer's append at the same size. Reported, no bound.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as wavefileModule from 'wavefile';
import type { PcmFormat } from '../src/core/wav-format';
import { nodeFileSystem } from '../src/main/fs-layer';
import { WavAppendWriter } from '../src/main/recording/wav-writer';
import {
  countingFdatasync,
  interleavedRatio,
  interleavedSides,
  loadAverage1m,
  median,
  percentile,
  round,
} from './support';

const { WaveFile } = ((wavefileModule as unknown as { default?: typeof wavefileModule }).default ??
  wavefileModule) as typeof wavefileModule;

const FORMAT: PcmFormat = { sampleRate: 48000, channels: 1, bitsPerSample: 16 };
const CHUNK_BYTES = 19200; // 0.2 s
const BIG_BYTES = 2_000_000_000;
/** Data bytes of the RF64 file: past 4 GiB by 128 MiB, so the header is RF64 for certain. */
const RF64_BYTES = 2 ** 32 + 128 * 1024 * 1024;
const FILL_BYTES = 8 * 1024 * 1024;
const APPENDS_PER_BLOCK = 50;
/** Shortest throughput run: three ticks of the writer's 1 s sync timer. */
const THROUGHPUT_RUN_MS = 3000;
/** The plain side syncs as often as the writer's default timer (1000 ms). */
const PLAIN_SYNC_INTERVAL_MS = 1000;
const APPEND_RATIO_MAX = 1.2;
const THROUGHPUT_RATIO_MIN = 0.8;

const log = (msg: string): void => void process.stderr.write(`[wav-append] ${msg}\n`);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

function chunk(seed: number, bytes = CHUNK_BYTES): Buffer {
  const b = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 2) b.writeInt16LE(((i * 7 + seed * 131) % 20000) - 10000, i);
  return b;
}

/** Times `appends` awaited appends in blocks of 5, each block followed by an untimed sync. */
async function timeAppends(
  w: WavAppendWriter,
  data: Buffer,
  appends: number,
  out: number[],
): Promise<void> {
  for (let i = 0; i < appends; i++) {
    const t = now();
    await w.append(data);
    out.push(now() - t);
    if (i % 5 === 4) await w.sync();
  }
}

/** Appends through the writer until at least `bytes` of audio are in the file, then syncs. */
async function fillThroughWriter(w: WavAppendWriter, bytes: number): Promise<void> {
  const fill = chunk(2, FILL_BYTES);
  while (w.bytesWritten < bytes) await w.append(fill);
  await w.sync();
}

function latencyOf(times: number[]) {
  return {
    p50: round(percentile(times, 50), 4),
    p99: round(percentile(times, 99), 4),
    max: round(Math.max(...times), 4),
  };
}

async function appendRatio(dir: string, quick: boolean) {
  const data = chunk(1);
  // Capacity: three writers (near-empty, 2 GB, RF64), disposed in the finally below.
  const writers: WavAppendWriter[] = [];
  const files = ['small.wav', 'big.wav', 'rf64.wav'].map((f) => path.join(dir, f));
  try {
    for (const f of files) {
      writers.push(await WavAppendWriter.create(f, FORMAT, { syncIntervalMs: 2000 }));
    }
    const [, big, rf64] = writers as [WavAppendWriter, WavAppendWriter, WavAppendWriter];
    log(
      `building a ${BIG_BYTES / 1e9} GB file and a ${(RF64_BYTES / 2 ** 30).toFixed(3)} GiB file through the writer`,
    );
    const t0 = now();
    await fillThroughWriter(big, BIG_BYTES);
    const bigBuildS = (now() - t0) / 1000;
    const t1 = now();
    await fillThroughWriter(rf64, RF64_BYTES);
    const rf64BuildS = (now() - t1) / 1000;
    log(`built in ${bigBuildS.toFixed(1)} s and ${rf64BuildS.toFixed(1)} s`);
    if (big.isRf64 || !rf64.isRf64) {
      throw new Error(
        `expected a RIFF 2 GB file and an RF64 file; got ${big.isRf64}, ${rf64.isRf64}`,
      );
    }
    // Capacity: rounds x APPENDS_PER_BLOCK samples each; the pooled percentiles are
    // reported next to the gated medians of per-round ratios.
    const pools: number[][] = [[], [], []];
    const rounds = quick ? 42 : 84; // multiples of the six orders of three sides
    const block = (side: number) => async (): Promise<number> => {
      const times: number[] = [];
      await timeAppends(writers[side]!, data, APPENDS_PER_BLOCK, times);
      pools[side]!.push(...times);
      return median(times);
    };
    // Warm-up, not counted.
    for (const w of writers) await timeAppends(w, data, 20, []);
    const perRound = await interleavedSides(rounds, [block(0), block(1), block(2)], { warmup: 0 });
    const ratios = perRound.map((r) => r.values[1]! / r.values[0]!);
    const ratiosRf64 = perRound.map((r) => r.values[2]! / r.values[0]!);
    const [empty, at2gb, pastRf64] = pools.map(latencyOf) as [
      ReturnType<typeof latencyOf>,
      ReturnType<typeof latencyOf>,
      ReturnType<typeof latencyOf>,
    ];
    const appendRatioMedian = median(ratios);
    const appendRatioRf64Median = median(ratiosRf64);
    log(
      `append p50/p99/max ms: near-empty ${empty.p50}/${empty.p99}/${empty.max}, 2 GB ${at2gb.p50}/${at2gb.p99}/${at2gb.max}, ` +
        `RF64 ${pastRf64.p50}/${pastRf64.p99}/${pastRf64.max} (n=${pools[0]!.length} each); per-round ratio medians ` +
        `${appendRatioMedian.toFixed(3)} (2 GB), ${appendRatioRf64Median.toFixed(3)} (RF64), ${rounds} rounds`,
    );
    // Awaited here so that a failed final sync fails the run.
    for (const w of writers) await w.close();
    return {
      append_empty_p50_ms: empty.p50,
      append_empty_p99_ms: empty.p99,
      append_empty_max_ms: empty.max,
      append_2gb_p50_ms: at2gb.p50,
      append_2gb_p99_ms: at2gb.p99,
      append_2gb_max_ms: at2gb.max,
      append_rf64_p50_ms: pastRf64.p50,
      append_rf64_p99_ms: pastRf64.p99,
      append_rf64_max_ms: pastRf64.max,
      append_samples_each: pools[0]!.length,
      append_rounds: rounds,
      append_ratio: round(appendRatioMedian),
      append_ratio_pooled: round(median(pools[1]!) / median(pools[0]!)),
      append_ratio_round_min: round(Math.min(...ratios)),
      append_ratio_round_max: round(Math.max(...ratios)),
      append_ratio_rf64: round(appendRatioRf64Median),
      append_ratio_rf64_pooled: round(median(pools[2]!) / median(pools[0]!)),
      append_ratio_rf64_round_min: round(Math.min(...ratiosRf64)),
      append_ratio_rf64_round_max: round(Math.max(...ratiosRf64)),
      big_file_bytes: big.bytesWritten,
      rf64_file_bytes: rf64.bytesWritten,
      big_file_build_s: round(bigBuildS, 1),
      rf64_file_build_s: round(rf64BuildS, 1),
    };
  } finally {
    // After close() this only releases the object; on an error path it closes the descriptor.
    for (const w of writers) w.dispose();
    for (const f of files) fs.rmSync(f, { force: true });
  }
}

/** One throughput run: its duration, the audio bytes it wrote and the syncs its timer ran. */
interface ThroughputRun {
  ms: number;
  bytes: number;
  syncs: number;
}

/**
 * The writer for at least THROUGHPUT_RUN_MS: create, awaited appends until the
 * time is up, close. Its own sync timer at its default interval. `syncs` counts
 * the timer's syncs that began during the appends (each is two fdatasyncs; the
 * create's one and the close's final sync are not counted).
 */
async function writerRun(file: string, data: Buffer): Promise<ThroughputRun> {
  const counted = countingFdatasync(nodeFileSystem);
  const t = now();
  const w = await WavAppendWriter.create(file, FORMAT, { fs: counted.fs });
  try {
    const afterCreate = counted.fdatasyncs();
    while (now() - t < THROUGHPUT_RUN_MS) await w.append(data);
    const syncs = Math.ceil((counted.fdatasyncs() - afterCreate) / 2);
    await w.close();
    return { ms: now() - t, bytes: w.bytesWritten, syncs };
  } finally {
    w.dispose();
    fs.rmSync(file, { force: true });
  }
}

/**
 * Plain writes for at least THROUGHPUT_RUN_MS: open, awaited fs.write of the
 * same chunk until the time is up, an fdatasync every PLAIN_SYNC_INTERVAL_MS
 * from a timer that skips a tick while one is running (as the writer's does),
 * a final fdatasync, close.
 */
async function plainRun(file: string, data: Buffer): Promise<ThroughputRun> {
  const t = now();
  const fd = await nodeFileSystem.open(file, 'wx');
  let syncs = 0;
  let syncing: Promise<void> | null = null;
  let syncError: unknown = null;
  const timer = setInterval(() => {
    if (syncing) return;
    syncs++;
    syncing = nodeFileSystem
      .fdatasync(fd)
      .catch((e: unknown) => void (syncError ??= e))
      .finally(() => (syncing = null));
  }, PLAIN_SYNC_INTERVAL_MS);
  let bytes = 0;
  let closed = false;
  try {
    try {
      while (now() - t < THROUGHPUT_RUN_MS) {
        bytes += await nodeFileSystem.write(fd, data, 0, data.length, null);
      }
    } finally {
      // No fdatasync may be running when the descriptor closes, on any path.
      clearInterval(timer);
      await syncing;
    }
    if (syncError) throw syncError;
    await nodeFileSystem.fdatasync(fd);
    closed = true;
    await nodeFileSystem.close(fd);
    return { ms: now() - t, bytes, syncs };
  } finally {
    if (!closed) await nodeFileSystem.close(fd).catch(() => {});
    fs.rmSync(file, { force: true });
  }
}

async function throughputRatio(dir: string, quick: boolean) {
  const data = chunk(3);
  const rounds = quick ? 17 : 41;
  let fileNo = 0;
  // Capacity: one entry per counted round on each side (warm-up dropped).
  const writerRuns: ThroughputRun[] = [];
  const plainRuns: ThroughputRun[] = [];
  let lastWriter: ThroughputRun | null = null;
  let lastPlain: ThroughputRun | null = null;
  const msPerMb = (r: ThroughputRun): number => r.ms / (r.bytes / 1e6);
  const mbPerS = (r: ThroughputRun): number => r.bytes / 1e6 / (r.ms / 1000);
  // a / b = plain time per byte / writer time per byte = writer throughput / plain throughput.
  // Round -1 is a warm-up (JIT, page cache, disk allocation), not counted.
  const { rounds: perRound, medianRatio } = await interleavedRatio(
    rounds,
    async () => msPerMb((lastPlain = await plainRun(path.join(dir, `tp-${fileNo++}.raw`), data))),
    async () => msPerMb((lastWriter = await writerRun(path.join(dir, `tw-${fileNo++}.wav`), data))),
    {
      warmup: 1,
      onRound: (i, r) => {
        const w = lastWriter!;
        const p = lastPlain!;
        if (i >= 0) {
          writerRuns.push(w);
          plainRuns.push(p);
        }
        log(
          `throughput round ${i + 1}/${rounds}: writer ${mbPerS(w).toFixed(0)} MB/s over ${(w.ms / 1000).toFixed(2)} s ` +
            `(${w.syncs} syncs), plain ${mbPerS(p).toFixed(0)} MB/s over ${(p.ms / 1000).toFixed(2)} s ` +
            `(${p.syncs} syncs), ratio ${r.ratio.toFixed(3)}`,
        );
      },
    },
  );
  // Other work's disk flushes and CPU bursts only ever add time to a run, so
  // each side's lower quartile of time per byte over the interleaved rounds
  // estimates its own cost; the writer's fixed costs (create's and close's
  // fdatasyncs, the header patches of every sync) are in every run, the
  // fastest ones included.
  const writerQ1 = percentile(writerRuns.map(msPerMb), 25);
  const plainQ1 = percentile(plainRuns.map(msPerMb), 25);
  const ratioQ1 = plainQ1 / writerQ1;
  const ratios = perRound.map((r) => r.ratio);
  const allRuns = [...writerRuns, ...plainRuns];
  const syncsMin = Math.min(...allRuns.map((r) => r.syncs));
  log(
    `throughput: writer ${(1000 / writerQ1).toFixed(1)} MB/s, plain ${(1000 / plainQ1).toFixed(1)} MB/s ` +
      `(lower quartiles of time per byte, ${rounds} runs each); ratio ${ratioQ1.toFixed(3)}; median of per-round ` +
      `ratios ${medianRatio.toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)}); ` +
      `fewest syncs in a run ${syncsMin}`,
  );
  return {
    throughput_run_min_ms: THROUGHPUT_RUN_MS,
    throughput_rounds: rounds,
    writer_mb_s: round(1000 / writerQ1, 1),
    plain_mb_s: round(1000 / plainQ1, 1),
    throughput_ratio: round(ratioQ1),
    throughput_ratio_of_medians: round(
      median(plainRuns.map(msPerMb)) / median(writerRuns.map(msPerMb)),
    ),
    throughput_ratio_round_median: round(medianRatio),
    throughput_ratio_round_min: round(Math.min(...ratios)),
    throughput_ratio_round_max: round(Math.max(...ratios)),
    throughput_run_s_range: [
      round(Math.min(...allRuns.map((r) => r.ms)) / 1000, 2),
      round(Math.max(...allRuns.map((r) => r.ms)) / 1000, 2),
    ],
    throughput_syncs_min: syncsMin,
    writer_run_mb_s: writerRuns.map((r) => round(mbPerS(r), 1)),
    plain_run_mb_s: plainRuns.map((r) => round(mbPerS(r), 1)),
    writer_run_syncs: writerRuns.map((r) => r.syncs),
    plain_run_syncs: plainRuns.map((r) => r.syncs),
    throughput_gb_written: round(allRuns.reduce((s, r) => s + r.bytes, 0) / 1e9, 1),
  };
}

async function naiveSpeedup(dir: string, quick: boolean) {
  const tenMinutes = FORMAT.sampleRate * 600; // samples
  const base = new Int16Array(tenMinutes);
  for (let i = 0; i < base.length; i++) base[i] = ((i * 13) % 20000) - 10000;
  const naivePath = path.join(dir, 'naive.wav');
  const wf0 = new WaveFile();
  wf0.fromScratch(1, FORMAT.sampleRate, '16', base);
  fs.writeFileSync(naivePath, wf0.toBuffer());
  const add = new Int16Array(CHUNK_BYTES / 2).fill(1234);
  const naiveMs: number[] = [];
  const reps = quick ? 1 : 3; // ~15 s each
  for (let r = 0; r < reps; r++) {
    const t = now();
    const wf = new WaveFile(fs.readFileSync(naivePath));
    const old = wf.getSamples(false, Int16Array) as unknown as Int16Array;
    const next = new Int16Array(old.length + add.length);
    next.set(old);
    next.set(add, old.length);
    const out = new WaveFile();
    out.fromScratch(1, FORMAT.sampleRate, '16', next);
    fs.writeFileSync(naivePath, out.toBuffer());
    naiveMs.push(now() - t);
    log(
      `naive append at ${(old.length / FORMAT.sampleRate / 60).toFixed(1)} min: ${naiveMs[r]!.toFixed(0)} ms`,
    );
  }
  fs.rmSync(naivePath);

  // The writer at the same size: a 10-minute file, then timed appends.
  const wPath = path.join(dir, 'ten-min.wav');
  const w = await WavAppendWriter.create(wPath, FORMAT, { syncIntervalMs: 2000 });
  const times: number[] = [];
  try {
    const data = chunk(4);
    const tenMinBytes = tenMinutes * 2;
    const fill = chunk(5, 960_000);
    while (w.bytesWritten + fill.length <= tenMinBytes) await w.append(fill);
    await w.sync();
    await timeAppends(w, data, 20, []);
    await timeAppends(w, data, 500, times);
  } finally {
    await w.close();
    fs.rmSync(wPath);
  }
  const naive = median(naiveMs);
  const writer = median(times);
  return {
    naive_append_10min_median_ms: round(naive, 1),
    writer_append_10min_median_ms: round(writer, 4),
    naive_speedup: Math.round(naive / writer),
  };
}

export default async function run(args: string[]): Promise<Record<string, unknown>> {
  const quick = args.includes('--quick');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steno-bench-wav-'));
  const started = now();
  const loadStart = loadAverage1m();
  try {
    const a = await appendRatio(dir, quick);
    const t = await throughputRatio(dir, quick);
    const n = await naiveSpeedup(dir, quick);
    return {
      quick,
      chunk_bytes: CHUNK_BYTES,
      measures:
        'append alone (awaited, one at a time); sync() every 5 appends outside the timed region',
      ...a,
      ...t,
      ...n,
      bounds: {
        append_ratio_max: APPEND_RATIO_MAX,
        append_ratio_rf64_max: APPEND_RATIO_MAX,
        throughput_ratio_min: THROUGHPUT_RATIO_MIN,
        throughput_syncs_min: 1,
      },
      loadavg_1m: [loadStart, loadAverage1m()],
      wall_s: round((now() - started) / 1000, 1),
      pass:
        a.append_ratio <= APPEND_RATIO_MAX &&
        a.append_ratio_rf64 <= APPEND_RATIO_MAX &&
        t.throughput_ratio >= THROUGHPUT_RATIO_MIN &&
        t.throughput_syncs_min >= 1,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
