/**
 * wav-append: the recording writer's append cost must not depend on the file size,
 * its throughput must be close to plain sequential writes, and it must beat the
 * naive "reread and rewrite the whole file" approach by a wide margin.
 *
 * `npm run bench -- wav-append [--quick]`
 *
 * Both bounded figures compare two measurements, so both are measured
 * interleaved within the run: a round measures both sides back to back and the
 * side that goes first alternates, so both sample the same stretch of the
 * machine's load.
 *
 * (1) append_ratio: time of one awaited append of 0.2 s of 48 kHz mono s16
 *     (19200 bytes) to a 2 GB file / to a near-empty file. Measures append alone:
 *     the timer is set to its maximum and an explicit sync() runs after every 5
 *     appends (1 s of audio, as in real use) outside the timed region, so the page
 *     cache holds what it would while recording. A round is one block of 50
 *     appends to each file; its ratio is the median of the big file's block over
 *     the median of the small file's. Bound: median over rounds <= 1.2.
 * (2) throughput_ratio: writer (create, awaited appends, close) / plain fs.write
 *     loop of the same chunks plus one fdatasync at the end, as bytes per second:
 *     the plain runs' lower-quartile time / the writer runs' lower-quartile time
 *     (noise only adds time to a run; see throughputRatio). Bound: >= 0.8.
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
import { interleavedRatio, loadAverage1m, median, percentile, round } from './support';

const { WaveFile } = ((wavefileModule as unknown as { default?: typeof wavefileModule }).default ??
  wavefileModule) as typeof wavefileModule;

const FORMAT: PcmFormat = { sampleRate: 48000, channels: 1, bitsPerSample: 16 };
const CHUNK_BYTES = 19200; // 0.2 s
const BIG_BYTES = 2_000_000_000;
const APPENDS_PER_BLOCK = 50;

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

async function appendRatio(dir: string, quick: boolean) {
  const data = chunk(1);
  const small = await WavAppendWriter.create(path.join(dir, 'small.wav'), FORMAT, {
    syncIntervalMs: 2000,
  });
  const big = await WavAppendWriter.create(path.join(dir, 'big.wav'), FORMAT, {
    syncIntervalMs: 2000,
  });
  try {
    log(`building a ${BIG_BYTES / 1e9} GB file through the writer`);
    const fill = chunk(2, 8 * 1024 * 1024);
    const t0 = now();
    while (big.bytesWritten + fill.length <= BIG_BYTES) await big.append(fill);
    await big.sync();
    log(`built in ${((now() - t0) / 1000).toFixed(1)} s`);
    // Capacity: rounds x APPENDS_PER_BLOCK samples each; the pooled medians are
    // reported next to the gated median of per-round ratios.
    const smallTimes: number[] = [];
    const bigTimes: number[] = [];
    const rounds = quick ? 40 : 80;
    const block = (w: WavAppendWriter, pool: number[]) => async (): Promise<number> => {
      const times: number[] = [];
      await timeAppends(w, data, APPENDS_PER_BLOCK, times);
      pool.push(...times);
      return median(times);
    };
    // Warm-up, not counted.
    await timeAppends(small, data, 20, []);
    await timeAppends(big, data, 20, []);
    const { rounds: perRound, medianRatio } = await interleavedRatio(
      rounds,
      block(big, bigTimes),
      block(small, smallTimes),
      { warmup: 0 },
    );
    const emptyMs = median(smallTimes);
    const bigMs = median(bigTimes);
    const ratios = perRound.map((r) => r.ratio);
    log(
      `append median: near-empty ${emptyMs.toFixed(4)} ms, 2 GB ${bigMs.toFixed(4)} ms (n=${bigTimes.length} each); ` +
        `per-round ratio median ${medianRatio.toFixed(3)} (${rounds} rounds, ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})`,
    );
    return {
      append_empty_median_ms: round(emptyMs, 4),
      append_2gb_median_ms: round(bigMs, 4),
      append_samples_each: bigTimes.length,
      append_rounds: rounds,
      append_ratio: round(medianRatio),
      append_ratio_pooled: round(bigMs / emptyMs),
      append_ratio_round_min: round(Math.min(...ratios)),
      append_ratio_round_max: round(Math.max(...ratios)),
      big_file_bytes: big.bytesWritten,
    };
  } finally {
    await small.close();
    await big.close();
    fs.rmSync(path.join(dir, 'small.wav'));
    fs.rmSync(path.join(dir, 'big.wav'));
  }
}

async function throughputRatio(dir: string, quick: boolean) {
  const data = chunk(3);
  const chunks = 5000; // 96 MB per run: about 0.25 s on a quiet machine
  const rounds = quick ? 31 : 61;
  let run = 0;
  const writerRun = async (): Promise<number> => {
    const wf = path.join(dir, `tw-${run++}.wav`);
    const t = now();
    const w = await WavAppendWriter.create(wf, FORMAT);
    for (let i = 0; i < chunks; i++) await w.append(data);
    await w.close();
    const ms = now() - t;
    fs.rmSync(wf);
    return ms;
  };
  const plainRun = async (): Promise<number> => {
    const pf = path.join(dir, `tp-${run++}.raw`);
    const t = now();
    const fd = await nodeFileSystem.open(pf, 'wx');
    for (let i = 0; i < chunks; i++) await nodeFileSystem.write(fd, data, 0, data.length, null);
    await nodeFileSystem.fdatasync(fd);
    await nodeFileSystem.close(fd);
    const ms = now() - t;
    fs.rmSync(pf);
    return ms;
  };
  // a / b = plain time / writer time = writer throughput / plain throughput.
  // Round -1 is a warm-up (JIT, page cache, disk allocation), not counted.
  const { rounds: perRound, medianRatio } = await interleavedRatio(rounds, plainRun, writerRun, {
    warmup: 1,
    onRound: (i, r) =>
      log(
        `throughput round ${i + 1}/${rounds}: writer ${r.b.toFixed(0)} ms, plain ${r.a.toFixed(0)} ms, ratio ${r.ratio.toFixed(3)}`,
      ),
  });
  // Other work's disk flushes and CPU bursts land on single runs of about
  // 0.3 s and only ever add time (one run measured 0.26 s or 1.1 s for the same
  // writes), so each side's lower quartile over the interleaved rounds
  // estimates its own cost; the writer's fixed costs (create's and close's
  // fdatasyncs, the header patch) are in every run, the fastest ones included.
  const writerRuns = perRound.map((r) => r.b);
  const plainRuns = perRound.map((r) => r.a);
  const writerQ1 = percentile(writerRuns, 25);
  const plainQ1 = percentile(plainRuns, 25);
  const ratioQ1 = plainQ1 / writerQ1;
  const mb = (chunks * CHUNK_BYTES) / 1e6;
  const ratios = perRound.map((r) => r.ratio);
  log(
    `throughput: writer ${(mb / (writerQ1 / 1000)).toFixed(1)} MB/s, plain ${(mb / (plainQ1 / 1000)).toFixed(1)} MB/s ` +
      `(lower quartiles of ${rounds} runs each); ratio ${ratioQ1.toFixed(3)}; median of per-round ratios ` +
      `${medianRatio.toFixed(3)} (${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)})`,
  );
  return {
    throughput_bytes_per_run: chunks * CHUNK_BYTES,
    throughput_rounds: rounds,
    writer_mb_s: round(mb / (writerQ1 / 1000), 1),
    plain_mb_s: round(mb / (plainQ1 / 1000), 1),
    throughput_ratio: round(ratioQ1),
    throughput_ratio_of_medians: round(median(plainRuns) / median(writerRuns)),
    throughput_ratio_round_median: round(medianRatio),
    throughput_ratio_round_min: round(Math.min(...ratios)),
    throughput_ratio_round_max: round(Math.max(...ratios)),
    writer_run_ms: writerRuns.map((x) => Math.round(x)),
    plain_run_ms: plainRuns.map((x) => Math.round(x)),
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
      bounds: { append_ratio_max: 1.2, throughput_ratio_min: 0.8 },
      loadavg_1m: [loadStart, loadAverage1m()],
      wall_s: round((now() - started) / 1000, 1),
      pass: a.append_ratio <= 1.2 && t.throughput_ratio >= 0.8,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
